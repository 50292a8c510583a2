use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub address: String,
    pub domain_id: i64,
    pub password_hash: String,
    pub change_seq: i64,
    pub created_at: i64,
    pub is_admin: bool,
    /// Storage limit in bytes; `None`: unlimited.
    pub quota_bytes: Option<i64>,
    /// Bytes of the account's emails (each counted once, in however many mailboxes).
    pub used_bytes: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mailboxes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    pub parent_id: Option<i64>,
    pub name: String,
    pub role: Option<String>,
    pub sort_order: i32,
    pub uid_validity: i64,
    pub uid_next: i64,
    pub subscribed: bool,
    pub created_at: i64,
    /// IMAP \Recent: UIDs from here on have been shown to no session yet.
    pub recent_uid: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

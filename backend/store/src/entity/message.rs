use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub blob_id: String,
    pub size: i64,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub base_subject: Option<String>,
    pub from_addr: String,
    pub to_addr: String,
    pub cc_addr: String,
    pub reply_to: String,
    pub sent_at: Option<i64>,
    pub in_reply_to: String,
    pub references: String,
    pub has_attachment: bool,
    pub preview: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

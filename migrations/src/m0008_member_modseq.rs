//! Members of a mailbox by modseq: a session that keeps a mailbox open (IMAP) asks for the
//! members changed since a seq, which without this index walks every member of the mailbox.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0008_member_modseq"
    }
}

#[derive(DeriveIden)]
enum MailboxEmails {
    Table,
    MailboxId,
    Modseq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("mailbox_emails_modseq")
                .table(MailboxEmails::Table)
                .col(MailboxEmails::MailboxId)
                .col(MailboxEmails::Modseq)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("mailbox_emails_modseq")
                .table(MailboxEmails::Table)
                .to_owned(),
        )
        .await
    }
}

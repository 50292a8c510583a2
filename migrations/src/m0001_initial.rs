//! Domains, accounts, aliases, mailboxes, messages, emails, mailbox membership, threading
//! references and the per-account change log.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_initial"
    }
}

#[derive(DeriveIden)]
enum Domains {
    Table,
    Id,
    Name,
    CatchAllAccountId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    Address,
    DomainId,
    PasswordHash,
    ChangeSeq,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Aliases {
    Table,
    Id,
    Address,
    AccountId,
}

#[derive(DeriveIden)]
enum Mailboxes {
    Table,
    Id,
    AccountId,
    ParentId,
    Name,
    Role,
    SortOrder,
    UidValidity,
    UidNext,
    Subscribed,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    BlobId,
    Size,
    MessageId,
    Subject,
    BaseSubject,
    FromAddr,
    ToAddr,
    CcAddr,
    ReplyTo,
    SentAt,
    InReplyTo,
    References,
    HasAttachment,
    Preview,
}

#[derive(DeriveIden)]
enum Emails {
    Table,
    Id,
    AccountId,
    BlobId,
    ThreadId,
    Keywords,
    ReceivedAt,
    Size,
    Modseq,
}

#[derive(DeriveIden)]
enum MailboxEmails {
    Table,
    MailboxId,
    Uid,
    EmailId,
    Modseq,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum ThreadRefs {
    Table,
    AccountId,
    MessageId,
    ThreadId,
}

#[derive(DeriveIden)]
enum Changes {
    Table,
    Id,
    AccountId,
    Seq,
    ObjectType,
    ObjectId,
    Op,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Domains::Table)
                .col(big_pk_auto(Domains::Id))
                .col(string_uniq(Domains::Name))
                .col(big_integer_null(Domains::CatchAllAccountId))
                .col(big_integer(Domains::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Accounts::Table)
                .col(big_pk_auto(Accounts::Id))
                .col(string_uniq(Accounts::Address))
                .col(big_integer(Accounts::DomainId))
                .col(string(Accounts::PasswordHash))
                .col(big_integer(Accounts::ChangeSeq).default(0))
                .col(big_integer(Accounts::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Accounts::Table, Accounts::DomainId)
                        .to(Domains::Table, Domains::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Aliases::Table)
                .col(big_pk_auto(Aliases::Id))
                .col(string(Aliases::Address))
                .col(big_integer(Aliases::AccountId))
                .foreign_key(
                    ForeignKey::create()
                        .from(Aliases::Table, Aliases::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("aliases_address_account")
                .table(Aliases::Table)
                .col(Aliases::Address)
                .col(Aliases::AccountId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Mailboxes::Table)
                .col(big_pk_auto(Mailboxes::Id))
                .col(big_integer(Mailboxes::AccountId))
                .col(big_integer_null(Mailboxes::ParentId))
                .col(string(Mailboxes::Name))
                .col(string_null(Mailboxes::Role))
                .col(integer(Mailboxes::SortOrder).default(0))
                .col(big_integer(Mailboxes::UidValidity))
                .col(big_integer(Mailboxes::UidNext).default(1))
                .col(boolean(Mailboxes::Subscribed).default(true))
                .col(big_integer(Mailboxes::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Mailboxes::Table, Mailboxes::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("mailboxes_account")
                .table(Mailboxes::Table)
                .col(Mailboxes::AccountId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Messages::Table)
                .col(string(Messages::BlobId).primary_key())
                .col(big_integer(Messages::Size))
                .col(string_null(Messages::MessageId))
                .col(text_null(Messages::Subject))
                .col(text_null(Messages::BaseSubject))
                .col(text(Messages::FromAddr))
                .col(text(Messages::ToAddr))
                .col(text(Messages::CcAddr))
                .col(text(Messages::ReplyTo))
                .col(big_integer_null(Messages::SentAt))
                .col(text(Messages::InReplyTo))
                .col(text(Messages::References))
                .col(boolean(Messages::HasAttachment))
                .col(text(Messages::Preview))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("messages_base_subject")
                .table(Messages::Table)
                .col(Messages::BaseSubject)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Emails::Table)
                .col(big_pk_auto(Emails::Id))
                .col(big_integer(Emails::AccountId))
                .col(string(Emails::BlobId))
                .col(big_integer(Emails::ThreadId))
                .col(text(Emails::Keywords).default(""))
                .col(big_integer(Emails::ReceivedAt))
                .col(big_integer(Emails::Size))
                .col(big_integer(Emails::Modseq))
                .foreign_key(
                    ForeignKey::create()
                        .from(Emails::Table, Emails::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(Emails::Table, Emails::BlobId)
                        .to(Messages::Table, Messages::BlobId),
                )
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("emails_account_thread", Emails::ThreadId),
            ("emails_account_received", Emails::ReceivedAt),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(Emails::Table)
                    .col(Emails::AccountId)
                    .col(col)
                    .to_owned(),
            )
            .await?;
        }
        m.create_index(
            Index::create()
                .name("emails_blob")
                .table(Emails::Table)
                .col(Emails::BlobId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(MailboxEmails::Table)
                .col(big_integer(MailboxEmails::MailboxId))
                .col(big_integer(MailboxEmails::Uid))
                .col(big_integer(MailboxEmails::EmailId))
                .col(big_integer(MailboxEmails::Modseq))
                // A copy of the email's receivedAt: "newest N in this mailbox", the list view of
                // every client, is then an index range scan (mailbox_emails_received).
                .col(big_integer(MailboxEmails::ReceivedAt))
                .primary_key(
                    Index::create()
                        .col(MailboxEmails::MailboxId)
                        .col(MailboxEmails::Uid),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(MailboxEmails::Table, MailboxEmails::MailboxId)
                        .to(Mailboxes::Table, Mailboxes::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(MailboxEmails::Table, MailboxEmails::EmailId)
                        .to(Emails::Table, Emails::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("mailbox_emails_email")
                .table(MailboxEmails::Table)
                .col(MailboxEmails::EmailId)
                .col(MailboxEmails::MailboxId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("mailbox_emails_received")
                .table(MailboxEmails::Table)
                .col(MailboxEmails::MailboxId)
                .col(MailboxEmails::ReceivedAt)
                .col(MailboxEmails::EmailId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ThreadRefs::Table)
                .col(big_integer(ThreadRefs::AccountId))
                .col(string(ThreadRefs::MessageId))
                .col(big_integer(ThreadRefs::ThreadId))
                .primary_key(
                    Index::create()
                        .col(ThreadRefs::AccountId)
                        .col(ThreadRefs::MessageId),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Changes::Table)
                .col(big_pk_auto(Changes::Id))
                .col(big_integer(Changes::AccountId))
                .col(big_integer(Changes::Seq))
                .col(small_integer(Changes::ObjectType))
                .col(big_integer(Changes::ObjectId))
                .col(small_integer(Changes::Op))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("changes_account_seq")
                .table(Changes::Table)
                .col(Changes::AccountId)
                .col(Changes::Seq)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Changes::Table.into_iden(),
            ThreadRefs::Table.into_iden(),
            MailboxEmails::Table.into_iden(),
            Emails::Table.into_iden(),
            Messages::Table.into_iden(),
            Mailboxes::Table.into_iden(),
            Aliases::Table.into_iden(),
            Accounts::Table.into_iden(),
            Domains::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}

//! Mail client autoconfiguration for the local domains: Thunderbird's format
//! (`/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=…`, and `/mail/config-v1.1.xml`
//! on `autoconfig.DOMAIN`) and Outlook's POX Autodiscover (`POST /autodiscover/autodiscover.xml`).
//! Both name this server's IMAP and submission listeners, so a user types an address and a
//! password and the client finds the rest. Only the ports that are listening are offered.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::problem::Problem;

/// The ports mail clients are told about (the listeners' ports; `None`: not listening).
#[derive(Clone, Debug, Default)]
pub struct MailPorts {
    pub imap: Option<u16>,
    pub imaps: Option<u16>,
    pub submission: Option<u16>,
    pub submissions: Option<u16>,
}

#[derive(serde::Deserialize)]
pub struct Params {
    emailaddress: Option<String>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The domain asked about: the address's, or the Host's after `autoconfig.` /
/// `autodiscover.`; only a local domain gets an answer.
async fn local_domain(s: &AppState, address: Option<&str>, headers: &HeaderMap) -> Option<String> {
    let from_address = address
        .and_then(|a| a.rsplit_once('@'))
        .map(|(_, d)| d.trim().to_ascii_lowercase());
    let from_host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase())
        .and_then(|h| {
            h.strip_prefix("autoconfig.")
                .or_else(|| h.strip_prefix("autodiscover."))
                .map(str::to_string)
        });
    let domain = from_address.or(from_host)?;
    match s.core.domain_is_local(&domain).await {
        Ok(true) => Some(domain),
        _ => None,
    }
}

fn not_found() -> Problem {
    mailroom_core::Error::NotFound("mail configuration for that domain".into()).into()
}

pub async fn thunderbird(
    State(s): State<AppState>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let Some(domain) = local_domain(&s, p.emailaddress.as_deref(), &headers).await else {
        return Err(not_found());
    };
    let host = escape(&s.config.hostname);
    let ports = &s.config.mail_ports;
    let mut servers = String::new();
    let server = |kind: &str, tag: &str, port: u16, socket: &str| {
        format!(
            "    <{tag} type=\"{kind}\">\n      <hostname>{host}</hostname>\n      <port>{port}</port>\n      <socketType>{socket}</socketType>\n      <username>%EMAILADDRESS%</username>\n      <authentication>password-cleartext</authentication>\n    </{tag}>\n"
        )
    };
    for (port, socket) in [(ports.imaps, "SSL"), (ports.imap, "STARTTLS")] {
        if let Some(p) = port {
            servers.push_str(&server("imap", "incomingServer", p, socket));
        }
    }
    for (port, socket) in [(ports.submissions, "SSL"), (ports.submission, "STARTTLS")] {
        if let Some(p) = port {
            servers.push_str(&server("smtp", "outgoingServer", p, socket));
        }
    }
    let d = escape(&domain);
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n  <emailProvider id=\"{d}\">\n    <domain>{d}</domain>\n    <displayName>{d}</displayName>\n    <displayShortName>{d}</displayShortName>\n{servers}  </emailProvider>\n</clientConfig>\n"
    );
    Ok((
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response())
}

pub async fn autodiscover(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, Problem> {
    // The request names the address in <EMailAddress>; nothing else in it matters here.
    let address = body
        .split_once("<EMailAddress>")
        .and_then(|(_, rest)| rest.split_once("</EMailAddress>"))
        .map(|(a, _)| a.trim().to_string());
    let Some(_domain) = local_domain(&s, address.as_deref(), &headers).await else {
        return Err(not_found());
    };
    let host = escape(&s.config.hostname);
    let login = escape(address.as_deref().unwrap_or_default());
    let ports = &s.config.mail_ports;
    let mut protocols = String::new();
    let protocol = |kind: &str, port: u16, ssl: bool| {
        let (ssl, encryption) = if ssl { ("on", "SSL") } else { ("off", "TLS") };
        format!(
            "      <Protocol>\n        <Type>{kind}</Type>\n        <Server>{host}</Server>\n        <Port>{port}</Port>\n        <LoginName>{login}</LoginName>\n        <SPA>off</SPA>\n        <SSL>{ssl}</SSL>\n        <Encryption>{encryption}</Encryption>\n        <AuthRequired>on</AuthRequired>\n      </Protocol>\n"
        )
    };
    if let Some(p) = ports.imaps {
        protocols.push_str(&protocol("IMAP", p, true));
    } else if let Some(p) = ports.imap {
        protocols.push_str(&protocol("IMAP", p, false));
    }
    if let Some(p) = ports.submissions {
        protocols.push_str(&protocol("SMTP", p, true));
    } else if let Some(p) = ports.submission {
        protocols.push_str(&protocol("SMTP", p, false));
    }
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n  <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">\n    <Account>\n      <AccountType>email</AccountType>\n      <Action>settings</Action>\n{protocols}    </Account>\n  </Response>\n</Autodiscover>\n"
    );
    Ok((
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response())
}

//! Mail client autoconfiguration over real HTTP (curl): Thunderbird's config-v1.1.xml (by
//! address and by the autoconfig.DOMAIN host name) and Outlook's POX Autodiscover name the
//! listeners actually bound; another domain gets 404. The advertised IMAP port then takes a
//! login (Python's imaplib), as a client following the document would.

use std::process::Command;

use crate::backends;
use crate::harness::{Backend, PASSWORD, TestServer};

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or((&text, ""));
    (body.to_string(), code.to_string())
}

backends!(autoconfig_documents);
async fn autoconfig_documents(b: Backend) {
    let s = TestServer::start(b).await;
    s.setup_accounts();
    let base = format!("http://{}", s.http);
    let (xml, code) = curl(&[&format!(
        "{base}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40example.test"
    )]);
    assert_eq!(code, "200", "{xml}");
    for want in [
        "<clientConfig version=\"1.1\">".to_string(),
        "<domain>example.test</domain>".to_string(),
        "<hostname>mx.test</hostname>".to_string(),
        format!(
            "<port>{}</port>\n      <socketType>SSL</socketType>",
            s.imaps.port()
        ),
        format!(
            "<port>{}</port>\n      <socketType>STARTTLS</socketType>",
            s.imap.port()
        ),
        format!(
            "<port>{}</port>\n      <socketType>SSL</socketType>",
            s.submissions.port()
        ),
        format!(
            "<port>{}</port>\n      <socketType>STARTTLS</socketType>",
            s.submission.port()
        ),
        "<username>%EMAILADDRESS%</username>".to_string(),
    ] {
        assert!(xml.contains(&want), "missing {want:?} in\n{xml}");
    }
    let (by_host, code) = curl(&[
        "-H",
        "Host: autoconfig.example.test",
        &format!("{base}/mail/config-v1.1.xml"),
    ]);
    assert_eq!((code.as_str(), by_host == xml), ("200", true), "{by_host}");
    let (_, code) = curl(&[&format!(
        "{base}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=x%40elsewhere.test"
    )]);
    assert_eq!(code, "404");
    let request = "<?xml version=\"1.0\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\"><Request><EMailAddress>bob@example.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>";
    let (pox, code) = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: text/xml",
        "--data-binary",
        request,
        &format!("{base}/autodiscover/autodiscover.xml"),
    ]);
    assert_eq!(code, "200", "{pox}");
    for want in [
        "<Type>IMAP</Type>".to_string(),
        format!("<Port>{}</Port>", s.imaps.port()),
        "<LoginName>bob@example.test</LoginName>".to_string(),
        "<Type>SMTP</Type>".to_string(),
        format!("<Port>{}</Port>", s.submissions.port()),
    ] {
        assert!(pox.contains(&want), "missing {want:?} in\n{pox}");
    }
    // A client following the document: the IMAP STARTTLS port it names takes a login.
    let port = xml
        .split("<port>")
        .nth(2)
        .and_then(|p| p.split("</port>").next())
        .unwrap()
        .to_string();
    let out = Command::new("python3")
        .args([
            "-c",
            "import imaplib,sys; m=imaplib.IMAP4('127.0.0.1', int(sys.argv[1])); print(m.login('alice@example.test', sys.argv[2])[0])",
            &port,
            PASSWORD,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "OK",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

//! SearchSnippet/get (RFC 8621 §5.1): where an Email/query filter's text matched, as HTML
//! with the matches in `<mark>`: the subject, and a short stretch of the body.

use mailroom_core::filter::{Filter, TextField};
use mailroom_core::mime::MimePart;
use serde_json::{Map, Value, json};

use super::email_query::parse_filter;
use super::{Ctx, account};
use crate::{MethodError, id};

/// Characters of body shown around the first match.
const PREVIEW_CHARS: usize = 255;

pub(super) async fn run(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let filter = match args.get("filter") {
        None | Some(Value::Null) => None,
        Some(f) => Some(parse_filter(f, 0)?),
    };
    let ids: Vec<String> = args
        .get("emailIds")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect())
        .ok_or_else(|| MethodError::InvalidArguments("emailIds must list ids".into()))?;
    if ids.len() > crate::MAX_OBJECTS_IN_GET {
        return Err(MethodError::RequestTooLarge(format!(
            "at most {} emailIds",
            crate::MAX_OBJECTS_IN_GET
        )));
    }
    let (mut subject_terms, mut body_terms) = (Vec::new(), Vec::new());
    if let Some(f) = &filter {
        terms(f, true, &mut subject_terms, &mut body_terms);
    }
    let numbers: Vec<i64> = ids.iter().filter_map(|i| id::parse('e', i)).collect();
    let found = ctx.core.emails(account_id, &numbers).await?;
    let mut list = Vec::new();
    for e in &found {
        let subject = e
            .row
            .meta
            .subject
            .as_deref()
            .and_then(|s| highlight(s, &subject_terms, usize::MAX));
        let preview = if body_terms.is_empty() {
            None
        } else {
            let root = ctx.core.email_structure(e).await?;
            let mut texts = Vec::new();
            collect_text(&root, &mut texts);
            texts
                .iter()
                .find_map(|t| highlight(t, &body_terms, PREVIEW_CHARS))
        };
        list.push(json!({"emailId": id::email(e.row.id), "subject": subject, "preview": preview}));
    }
    let not_found: Vec<&String> = ids
        .iter()
        .filter(|i| id::parse('e', i).is_none_or(|n| !found.iter().any(|e| e.row.id == n)))
        .collect();
    Ok(json!({
        "accountId": id::account(account_id),
        "list": list,
        "notFound": if not_found.is_empty() { Value::Null } else { json!(not_found) },
    }))
}

/// The texts a filter looks for in subjects and in bodies (not those under a NOT).
fn terms(f: &Filter, positive: bool, subject: &mut Vec<String>, body: &mut Vec<String>) {
    match f {
        Filter::Text(field, v) if positive && !v.is_empty() => {
            let v = v.to_lowercase();
            match field {
                TextField::Any => {
                    subject.push(v.clone());
                    body.push(v);
                }
                TextField::Subject => subject.push(v),
                TextField::Body => body.push(v),
                _ => {}
            }
        }
        Filter::And(v) | Filter::Or(v) => v.iter().for_each(|x| terms(x, positive, subject, body)),
        Filter::Not(v) => v.iter().for_each(|x| terms(x, !positive, subject, body)),
        _ => {}
    }
}

fn collect_text(p: &MimePart, out: &mut Vec<String>) {
    if let Some(t) = &p.text {
        if p.media_type == "text/html" {
            out.push(strip_tags(t));
        } else {
            out.push(t.clone());
        }
    }
    for s in &p.sub_parts {
        collect_text(s, out);
    }
}

/// HTML without its tags (for finding text, not for display).
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `text` (white space collapsed) as HTML with every term marked, cut to `max` characters
/// around the first match; `None` if no term occurs.
fn highlight(text: &str, terms: &[String], max: usize) -> Option<String> {
    let text: Vec<char> = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .collect();
    let lower: Vec<char> = text.iter().flat_map(|c| c.to_lowercase()).collect();
    // Lower-casing can change lengths; where it does, fall back to marking nothing.
    if lower.len() != text.len() {
        return None;
    }
    let mut marks = vec![false; text.len()];
    let mut first: Option<usize> = None;
    for t in terms {
        let t: Vec<char> = t.chars().collect();
        if t.is_empty() || t.len() > lower.len() {
            continue;
        }
        for i in 0..=lower.len() - t.len() {
            if lower[i..i + t.len()] == t[..] {
                marks[i..i + t.len()].iter_mut().for_each(|m| *m = true);
                first = Some(first.map_or(i, |f: usize| f.min(i)));
            }
        }
    }
    let first = first?;
    let start = if text.len() <= max {
        0
    } else {
        first.saturating_sub(max / 4).min(text.len() - max)
    };
    let end = (start + max).min(text.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    let mut open = false;
    for i in start..end {
        if marks[i] != open {
            out.push_str(if marks[i] { "<mark>" } else { "</mark>" });
            open = marks[i];
        }
        out.push_str(&escape(&text[i].to_string()));
    }
    if open {
        out.push_str("</mark>");
    }
    if end < text.len() {
        out.push('…');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn marks_and_escapes() {
        let h = super::highlight("Fish & <Chips> and chips", &["chips".into()], 100).unwrap();
        assert_eq!(
            h,
            "Fish &amp; &lt;<mark>Chips</mark>&gt; and <mark>chips</mark>"
        );
        assert_eq!(super::highlight("nothing", &["x".into()], 100), None);
        let long = format!("{} needle {}", "a ".repeat(200), "b ".repeat(200));
        let h = super::highlight(&long, &["needle".into()], 50).unwrap();
        assert!(h.starts_with('…') && h.ends_with('…') && h.contains("<mark>needle</mark>"));
    }
}

//! Result references (RFC 8620 §3.7): an argument `#name` whose value is
//! `{resultOf, name, path}` takes its value from an earlier response in the same request.

use serde_json::{Map, Value};

use crate::MethodError;

pub(crate) fn resolve(
    mut args: Map<String, Value>,
    done: &[(String, Value, String)],
) -> Result<Map<String, Value>, MethodError> {
    let refs: Vec<String> = args
        .keys()
        .filter(|k| k.starts_with('#'))
        .cloned()
        .collect();
    for key in refs {
        let plain = &key[1..];
        if args.contains_key(plain) {
            return Err(MethodError::InvalidArguments(format!(
                "both {plain} and #{plain} given"
            )));
        }
        let r = args.remove(&key).expect("listed above");
        let field = |f: &str| {
            r.get(f).and_then(Value::as_str).ok_or_else(|| {
                MethodError::InvalidResultReference(format!("#{plain} needs a string {f}"))
            })
        };
        let (result_of, name, path) = (field("resultOf")?, field("name")?, field("path")?);
        let (_, value, _) = done
            .iter()
            .find(|(n, _, id)| id == result_of && n == name)
            .ok_or_else(|| {
                MethodError::InvalidResultReference(format!(
                    "no {name} response with id {result_of:?}"
                ))
            })?;
        let v = pointer(value, path).ok_or_else(|| {
            MethodError::InvalidResultReference(format!("path {path:?} not found in {name}"))
        })?;
        args.insert(plain.to_string(), v);
    }
    Ok(args)
}

/// A JSON Pointer (RFC 6901) with JMAP's `*`: applied to an array, the rest of the path is
/// evaluated on each item and arrays in the results are flattened.
fn pointer(v: &Value, path: &str) -> Option<Value> {
    if path.is_empty() {
        return Some(v.clone());
    }
    let rest = path.strip_prefix('/')?;
    let (token, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let token = token.replace("~1", "/").replace("~0", "~");
    match v {
        Value::Array(items) if token == "*" => {
            let mut out = Vec::new();
            for item in items {
                match pointer(item, tail)? {
                    Value::Array(inner) => out.extend(inner),
                    other => out.push(other),
                }
            }
            Some(Value::Array(out))
        }
        Value::Array(items) => pointer(items.get(token.parse::<usize>().ok()?)?, tail),
        Value::Object(map) => pointer(map.get(&token)?, tail),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rfc_8620_example_paths() {
        let v = json!({"list": [{"threadId": "t1", "emailIds": ["e1", "e2"]}, {"threadId": "t2", "emailIds": ["e3"]}]});
        assert_eq!(pointer(&v, "/list/*/threadId"), Some(json!(["t1", "t2"])));
        assert_eq!(
            pointer(&v, "/list/*/emailIds"),
            Some(json!(["e1", "e2", "e3"]))
        );
        assert_eq!(pointer(&v, "/list/1/threadId"), Some(json!("t2")));
        assert_eq!(pointer(&v, "/nope"), None);
    }

    #[test]
    fn resolves_and_rejects() {
        let done = vec![(
            "Email/query".to_string(),
            json!({"ids": ["e1"]}),
            "0".to_string(),
        )];
        let args = json!({"#ids": {"resultOf": "0", "name": "Email/query", "path": "/ids"}});
        let out = resolve(args.as_object().unwrap().clone(), &done).unwrap();
        assert_eq!(out["ids"], json!(["e1"]));
        let wrong = json!({"#ids": {"resultOf": "0", "name": "Email/get", "path": "/ids"}});
        assert!(matches!(
            resolve(wrong.as_object().unwrap().clone(), &done),
            Err(MethodError::InvalidResultReference(_))
        ));
    }
}

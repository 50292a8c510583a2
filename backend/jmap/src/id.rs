//! JMAP ids: the service layer's numbers with a letter for the kind of object, so an id of
//! one kind is never mistaken for another (RFC 8620 §1.2: 1–255 of `A-Za-z0-9_-`).

pub fn account(n: i64) -> String {
    format!("a{n}")
}

pub fn mailbox(n: i64) -> String {
    format!("m{n}")
}

pub fn email(n: i64) -> String {
    format!("e{n}")
}

pub fn thread(n: i64) -> String {
    format!("t{n}")
}

pub fn submission(n: i64) -> String {
    format!("s{n}")
}

/// An Identity id: `i` and the address in unpadded base64url, so it is stable for as long
/// as the address is the user's, whatever else changes.
pub fn identity(address: &str) -> String {
    use base64::Engine;
    format!(
        "i{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(address)
    )
}

/// The address inside an Identity id.
pub fn identity_address(id: &str) -> Option<String> {
    use base64::Engine;
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id.strip_prefix('i')?)
        .ok()?;
    String::from_utf8(b).ok()
}

/// The JMAP id of an identity: `i` + address for an address's default identity, `j<n>` for
/// one the user created.
pub fn identity_of(id: &mailroom_core::identity::IdentityId) -> String {
    match id {
        mailroom_core::identity::IdentityId::Default(a) => identity(a),
        mailroom_core::identity::IdentityId::Created(n) => format!("j{n}"),
    }
}

pub fn parse_identity(id: &str) -> Option<mailroom_core::identity::IdentityId> {
    use mailroom_core::identity::IdentityId;
    match id.chars().next()? {
        'i' => identity_address(id).map(IdentityId::Default),
        'j' => parse('j', id).map(IdentityId::Created),
        _ => None,
    }
}

/// The number inside an id of the given kind; `None` for anything else.
pub fn parse(kind: char, id: &str) -> Option<i64> {
    let rest = id.strip_prefix(kind)?;
    if rest.is_empty() || rest.len() > 19 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_round_trip_and_kinds_do_not_mix() {
        assert_eq!(super::parse('e', &super::email(42)), Some(42));
        assert_eq!(super::parse('m', &super::email(42)), None);
        assert_eq!(super::parse('e', "e"), None);
        assert_eq!(super::parse('e', "e-1"), None);
        assert_eq!(super::parse('e', "e99999999999999999999999"), None);
    }
}

//! The layering of ARCHITECTURE.md as a test: gateways depend on mailroom-core only.

use std::process::Command;

const GATEWAYS: &[&str] = &[
    "mailroom-smtp",
    "mailroom-imap",
    "mailroom-jmap",
    "mailroom-api",
];
const STORAGE: &[&str] = &[
    "mailroom-store",
    "sea-orm",
    "sea-orm-migration",
    "mailroom-migration",
    "object_store",
];

#[test]
fn gateways_depend_on_core_only() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut seen = 0;
    for pkg in meta["packages"].as_array().unwrap() {
        let name = pkg["name"].as_str().unwrap();
        let deps: Vec<&str> = pkg["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null()) // normal dependencies, not dev/build
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        if GATEWAYS.contains(&name) {
            seen += 1;
            for d in &deps {
                let other_gateway =
                    GATEWAYS.contains(d) && !(name == "mailroom-api" && *d == "mailroom-jmap");
                assert!(
                    !STORAGE.contains(d) && !other_gateway,
                    "{name} depends on {d}: gateways go through mailroom-core"
                );
            }
        }
        if name == "mailroom-core" {
            for d in &deps {
                assert!(
                    !d.starts_with("sea-orm"),
                    "mailroom-core uses sea-orm directly; entities stay in mailroom-store"
                );
            }
        }
    }
    assert!(
        seen >= 1,
        "no gateway crate found: is the workspace layout as ARCHITECTURE.md says?"
    );
}

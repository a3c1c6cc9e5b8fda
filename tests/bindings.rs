//! The TypeScript bindings in ui/src/lib/bindings.ts must match the Rust types and commands.
//! `make bindings` (TOLLGATE_WRITE_BINDINGS=1) rewrites the file; otherwise a drift fails here.

#[test]
fn typescript_bindings_are_fresh() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/src/lib/bindings.ts");
    let generated = tollgate_app::typescript_bindings();
    if std::env::var_os("TOLLGATE_WRITE_BINDINGS").is_some() {
        std::fs::write(&path, &generated).expect("write bindings");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "ui/src/lib/bindings.ts is stale: run `make bindings` and commit the result"
    );
}

#[test]
fn every_command_is_in_the_bindings() {
    let ts = tollgate_app::typescript_bindings();
    for name in tollgate_app::commands::NAMES {
        assert!(
            ts.contains(&format!("  {name}: (")),
            "{name} missing from bindings"
        );
    }
}

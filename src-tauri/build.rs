//! Command names are declared once, in src-tauri/commands.rs. This script reads them from there
//! and grants exactly those to the main window: the app manifest makes every command need a
//! permission, and the generated capability allows only ours (no core or plugin permissions).

fn main() {
    let source = std::fs::read_to_string("src-tauri/commands.rs").expect("src-tauri/commands.rs");
    println!("cargo:rerun-if-changed=src-tauri/commands.rs");
    let names: Vec<String> = source
        .lines()
        .filter_map(|l| l.trim().strip_prefix("fn "))
        .filter_map(|rest| rest.split('(').next())
        .map(|n| n.trim().to_owned())
        .collect();
    assert!(
        !names.is_empty(),
        "no commands found in src-tauri/commands.rs"
    );

    let out_dir = std::env::var("OUT_DIR").expect("OUT_DIR");
    let cap_dir = std::path::Path::new(&out_dir).join("capabilities");
    std::fs::create_dir_all(&cap_dir).expect("capabilities dir");
    let permissions: Vec<String> = names
        .iter()
        .map(|n| format!("allow-{}", n.replace('_', "-")))
        .collect();
    let capability = serde_json::json!({
        "identifier": "main-window",
        "description": "The main window may call Tollgate's own commands and nothing else.",
        "windows": ["main"],
        "permissions": permissions,
    });
    std::fs::write(
        cap_dir.join("main-window.json"),
        serde_json::to_string_pretty(&capability).unwrap(),
    )
    .expect("write capability");
    let pattern: &'static str = Box::leak(format!("{}/*.json", cap_dir.display()).into_boxed_str());

    let commands: &'static [&'static str] = Box::leak(
        names
            .into_iter()
            .map(|n| &*Box::leak(n.into_boxed_str()))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .capabilities_path_pattern(pattern)
            .app_manifest(tauri_build::AppManifest::new().commands(commands)),
    )
    .expect("tauri-build");
}

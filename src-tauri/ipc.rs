//! The `commands!` macro behind commands.rs.

/// Expands a table of `fn name(console, arg: Type, ...) -> Output { body }` into Tauri
/// commands (taking `State<AppState>`), `handler()`, `NAMES` and `typescript()`.
macro_rules! commands {
    ($( $(#[doc = $doc:literal])* fn $name:ident($console:ident $(, $arg:ident : $ty:ty)*) -> $out:ty $body:block )*) => {
        $(
            $(#[doc = $doc])*
            #[tauri::command(rename_all = "snake_case")]
            pub async fn $name(
                state: tauri::State<'_, $crate::AppState>,
                $($arg: $ty),*
            ) -> Result<$out, ErrorBody> {
                let $console = &state.console;
                $body
            }
        )*

        pub fn handler<R: tauri::Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static {
            tauri::generate_handler![$($name),*]
        }

        #[allow(dead_code)]
        pub const NAMES: &[&str] = &[$(stringify!($name)),*];

        /// The TypeScript client: one typed function per command.
        #[allow(dead_code)]
        pub fn typescript() -> String {
            use ts_rs::TS as _;
            let cfg = ts_rs::Config::default();
            let mut out = String::new();
            $(
                out.push_str("\n");
                $( out.push_str(&format!("  /**{} */\n", $doc)); )*
                let args: Vec<(&str, String)> = vec![$((stringify!($arg), <$ty>::name(&cfg))),*];
                let params = args.iter().map(|(n, t)| {
                    if t.ends_with(" | null") { format!("{n}?: {t}") } else { format!("{n}: {t}") }
                }).collect::<Vec<_>>().join(", ");
                let payload = args.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>().join(", ");
                let output = <$out>::name(&cfg);
                let output = if output == "null" { "void".to_owned() } else { output };
                let payload = if payload.is_empty() { "{}".to_owned() } else { format!("{{ {payload} }}") };
                out.push_str(&format!(
                    "  {}: ({}): Promise<{}> => invoke<{}>(\"{}\", {}),\n",
                    stringify!($name), params, output, output, stringify!($name), payload
                ));
            )*
            out
        }
    };
}

pub(crate) use commands;

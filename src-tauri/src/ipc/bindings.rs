//! TypeScript bindings generated from the Rust types and the command table.
//! `cargo test -p clinshare-app --test bindings` fails when the committed
//! files drift; run it with `UPDATE_BINDINGS=1` to rewrite them.

use std::path::Path;

use clinshare_core::StoreStatus;
use ts_rs::{Config, TS};

use super::SetupRequest;

struct Arg {
    name: &'static str,
    ts_type: String,
    import: Option<String>,
}

struct Command {
    name: &'static str,
    doc: &'static str,
    args: Vec<Arg>,
    returns: String,
    imports: Vec<String>,
}

impl Command {
    fn new(name: &'static str, doc: &'static str) -> Self {
        Command {
            name,
            doc,
            args: Vec::new(),
            returns: "void".into(),
            imports: Vec::new(),
        }
    }

    fn arg<T: TS>(mut self, name: &'static str, cfg: &Config) -> Self {
        let ts_type = T::name(cfg);
        self.args.push(Arg {
            name,
            import: T::output_path().map(|_| ts_type.clone()),
            ts_type,
        });
        self
    }

    fn returns<T: TS>(mut self, cfg: &Config) -> Self {
        self.returns = T::name(cfg);
        if T::output_path().is_some() {
            self.imports.push(self.returns.clone());
        }
        self
    }
}

fn commands(cfg: &Config) -> Vec<Command> {
    vec![
        Command::new(
            "store_status",
            "Where the encrypted store is and whether it is open.",
        )
        .returns::<StoreStatus>(cfg),
        Command::new(
            "create_store",
            "Create the encrypted store and its first clinician account.",
        )
        .arg::<SetupRequest>("request", cfg)
        .returns::<StoreStatus>(cfg),
        Command::new(
            "report_first_paint",
            "Tell the shell the first screen has been painted (start-up timing).",
        ),
    ]
}

fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn commands_ts(cmds: &[Command]) -> String {
    let mut imports = std::collections::BTreeSet::new();
    for c in cmds {
        imports.extend(c.imports.iter().cloned());
        imports.extend(c.args.iter().filter_map(|a| a.import.clone()));
    }
    let mut out = String::from(
        "// Generated from the Rust command table (src-tauri/src/ipc); do not edit.\n\
         import { invoke } from \"@tauri-apps/api/core\";\n",
    );
    for name in &imports {
        out.push_str(&format!("import type {{ {name} }} from \"./{name}\";\n"));
    }
    for c in cmds {
        let params: Vec<String> = c
            .args
            .iter()
            .map(|a| format!("{}: {}", camel(a.name), a.ts_type))
            .collect();
        let payload = if c.args.is_empty() {
            String::new()
        } else {
            let fields: Vec<String> = c
                .args
                .iter()
                .map(|a| {
                    let js = camel(a.name);
                    if js == a.name {
                        js
                    } else {
                        format!("{}: {js}", a.name)
                    }
                })
                .collect();
            format!(", {{ {} }}", fields.join(", "))
        };
        out.push_str(&format!(
            "\n/** {} */\nexport function {}({}): Promise<{}> {{\n  return invoke(\"{}\"{});\n}}\n",
            c.doc,
            camel(c.name),
            params.join(", "),
            c.returns,
            c.name,
            payload
        ));
    }
    out
}

/// Write every binding file into `dir`: the types, with the types they
/// depend on, and `commands.ts`.
pub fn export(dir: &Path) -> Result<(), String> {
    let cfg = Config::new().with_out_dir(dir);
    let cmds = commands(&cfg);
    StoreStatus::export_all(&cfg).map_err(|e| e.to_string())?;
    SetupRequest::export_all(&cfg).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("commands.ts"), commands_ts(&cmds)).map_err(|e| e.to_string())
}

/// Names of the commands in the binding table, in order.
pub fn command_names() -> Vec<&'static str> {
    commands(&Config::new()).iter().map(|c| c.name).collect()
}

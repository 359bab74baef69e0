//! The backend's modules form no dependency cycle (issue 15): a module may use another only
//! if that one does not use it back, directly or through others. This keeps each layer
//! readable on its own: `db` and `error` at the bottom, then `session` and `access`, then the
//! domains, and `app`, `serve` and `cli` on top.
//!
//! Two levels are checked: the top-level modules of `backend/src` (`crate::oauth` using
//! `crate::apps`), and the files inside each module folder (`oauth/introspect.rs` using
//! `super::revoke`). Every path in the code counts, not only `use` items.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// Module name → the modules it uses, with one file that does, for the failure message.
type Graph = BTreeMap<String, BTreeMap<String, PathBuf>>;

#[test]
fn backend_modules_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files: Vec<PathBuf> = rust_files(&src)
        .into_iter()
        .map(|file| file.strip_prefix(&src).unwrap().to_path_buf())
        .collect();
    let mut files_by_folder: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for relative in &files {
        if let Some(own) = file_module(relative) {
            let folder = files_by_folder
                .entry(top_level_module(relative))
                .or_default();
            folder.insert(own);
        }
    }
    let mut top_level = Graph::new();
    let mut by_folder: BTreeMap<String, Graph> = BTreeMap::new();
    for relative in &files {
        let module = top_level_module(relative);
        let siblings = files_by_folder.get(&module).cloned().unwrap_or_default();
        let own = file_module(relative);
        for path in paths_in(&src.join(relative)) {
            if let Some(used) = crate_module(&path).filter(|used| *used != module) {
                add_edge(&mut top_level, &module, used, relative);
            }
            if let (Some(own), Some(used)) = (&own, sibling_used(&path, &module, &siblings))
                && used != own
            {
                let folder = by_folder.entry(module.clone()).or_default();
                add_edge(folder, own, used, relative);
            }
        }
    }
    let mut cycles = cycles_in(&top_level);
    for (folder, graph) in &by_folder {
        cycles.extend(
            cycles_in(graph)
                .into_iter()
                .map(|cycle| format!("inside {folder}/: {cycle}")),
        );
    }
    assert!(
        cycles.is_empty(),
        "modules that use each other (break the cycle by moving what both need below \
         them):\n{}",
        cycles.join("\n")
    );
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

/// `oauth/token.rs` → `oauth`; `config.rs` → `config`.
fn top_level_module(relative: &Path) -> String {
    let first = relative.components().next().unwrap().as_os_str();
    Path::new(first)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The file's own module inside its folder (`oauth/token.rs` → `token`); `None` for a
/// folder's `mod.rs`, which declares the others, and for top-level files.
fn file_module(relative: &Path) -> Option<String> {
    let stem = relative.file_stem()?.to_string_lossy().into_owned();
    (relative.components().count() == 2 && stem != "mod").then_some(stem)
}

/// Every path written in the file, as its segments: `use` trees expanded, and the paths of
/// expressions, types and patterns.
fn paths_in(file: &Path) -> Vec<Vec<String>> {
    let source = std::fs::read_to_string(file).unwrap();
    let syntax = syn::parse_file(&source)
        .unwrap_or_else(|e| panic!("{} is not Rust syn can read: {e}", file.display()));
    let mut collector = PathCollector::default();
    collector.visit_file(&syntax);
    collector.paths
}

#[derive(Default)]
struct PathCollector {
    paths: Vec<Vec<String>>,
}

impl<'ast> Visit<'ast> for PathCollector {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.paths
            .push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, path);
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        expand_use(&item.tree, Vec::new(), &mut self.paths);
    }
}

fn expand_use(tree: &syn::UseTree, prefix: Vec<String>, paths: &mut Vec<Vec<String>>) {
    let with = |ident: &syn::Ident| {
        let mut path = prefix.clone();
        path.push(ident.to_string());
        path
    };
    match tree {
        syn::UseTree::Path(next) => expand_use(&next.tree, with(&next.ident), paths),
        syn::UseTree::Name(name) => paths.push(with(&name.ident)),
        syn::UseTree::Rename(rename) => paths.push(with(&rename.ident)),
        syn::UseTree::Glob(_) => paths.push(prefix),
        syn::UseTree::Group(group) => {
            for tree in &group.items {
                expand_use(tree, prefix.clone(), paths);
            }
        }
    }
}

/// `crate::apps::find` → `apps`.
fn crate_module(path: &[String]) -> Option<&str> {
    match path {
        [root, module, ..] if root == "crate" => Some(module),
        _ => None,
    }
}

/// The sibling file (one of `siblings`, the files of folder `module`) that a path in that
/// folder reaches: `super::revoke…`, `crate::oauth::revoke…`, or `revoke::…` after a
/// `use super::revoke`. A folder's `mod.rs` is its front (it declares and re-exports the
/// others), not one of them, and what it re-exports is not followed.
fn sibling_used<'a>(
    path: &[String],
    module: &str,
    siblings: &'a BTreeSet<String>,
) -> Option<&'a String> {
    let named = match path {
        [root, sibling, ..] if root == "super" => sibling,
        [root, folder, sibling, ..] if root == "crate" && folder == module => sibling,
        [sibling, _, ..] => sibling,
        _ => return None,
    };
    siblings.get(named)
}

fn add_edge(graph: &mut Graph, from: &str, to: &str, file: &Path) {
    graph
        .entry(from.to_owned())
        .or_default()
        .entry(to.to_owned())
        .or_insert_with(|| file.to_owned());
}

/// Each cycle once, as `a → b (in a/x.rs) → a (in b/y.rs)`; found by a depth-first search
/// that reports every edge back to a module still on the search path.
fn cycles_in(graph: &Graph) -> Vec<String> {
    fn visit(
        graph: &Graph,
        module: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        cycles: &mut Vec<String>,
    ) {
        path.push(module.to_owned());
        for (used, file) in graph.get(module).into_iter().flatten() {
            if let Some(start) = path.iter().position(|m| m == used) {
                let mut cycle = path[start..].join(" → ");
                cycle.push_str(&format!(" → {used} (the last step in {})", file.display()));
                cycles.push(cycle);
            } else if !done.contains(used) {
                visit(graph, used, path, done, cycles);
            }
        }
        path.pop();
        done.insert(module.to_owned());
    }
    let mut done = BTreeSet::new();
    let mut cycles = Vec::new();
    for module in graph.keys() {
        if !done.contains(module) {
            visit(graph, module, &mut Vec::new(), &mut done, &mut cycles);
        }
    }
    cycles
}

#[test]
fn the_check_reports_a_cycle_and_only_a_cycle() {
    let mut graph = Graph::new();
    add_edge(&mut graph, "apps", "orgs", Path::new("apps/mod.rs"));
    add_edge(&mut graph, "orgs", "audit", Path::new("orgs/mod.rs"));
    assert!(cycles_in(&graph).is_empty(), "a chain is no cycle");
    add_edge(&mut graph, "audit", "apps", Path::new("audit/http.rs"));
    assert_eq!(
        cycles_in(&graph),
        ["apps → orgs → audit → apps (the last step in audit/http.rs)"]
    );
    let siblings: BTreeSet<String> = ["introspect".to_owned(), "revoke".to_owned()].into();
    let path = |text: &str| text.split("::").map(str::to_owned).collect::<Vec<_>>();
    for used in [
        "super::revoke",
        "crate::oauth::revoke::x",
        "revoke::is_revoked",
    ] {
        assert_eq!(
            sibling_used(&path(used), "oauth", &siblings).map(String::as_str),
            Some("revoke"),
            "{used}"
        );
    }
    for other in [
        "super::super::error::X",
        "crate::apps::revoke::x",
        "std::io",
    ] {
        assert_eq!(
            sibling_used(&path(other), "oauth", &siblings),
            None,
            "{other}"
        );
    }
}

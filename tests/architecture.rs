//! The layout the code keeps: no import cycle among the modules of `src/`,
//! and `rules` a leaf of pure functions (no rayon, no polars, no `unsafe`,
//! no file system), importing only the leaf modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::workdir::repo;

/// Modules every layer may use; they import none but each other.
const LEAVES: [&str; 7] = ["checksum", "crash", "direct_io", "error", "record", "rules", "schema"];

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`src/engine/pass.rs` -> `engine`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next()?.as_os_str().to_str()?.trim_end_matches(".rs").to_string();
    (first != "lib" && first != "main").then_some(first)
}

/// The code of a file without its comments.
fn code(text: &str) -> String {
    text.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// The top-level modules a file's code names through `crate::`.
fn imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the first name of each item.
            let mut depth = 1;
            let mut item_start = true;
            let mut name = String::new();
            for ch in group.chars() {
                match ch {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if depth == 1 && ch == ',' {
                    if !name.is_empty() {
                        found.insert(std::mem::take(&mut name));
                    }
                    item_start = true;
                    continue;
                }
                if item_start {
                    if ch.is_alphanumeric() || ch == '_' {
                        name.push(ch);
                    } else if !name.is_empty() {
                        found.insert(std::mem::take(&mut name));
                        item_start = false;
                    }
                }
            }
            if !name.is_empty() {
                found.insert(name);
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            found.insert(name);
        }
    }
    found
}

/// Module -> the other modules it imports.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = repo().join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else { continue };
        let text = std::fs::read_to_string(file).unwrap();
        let edges = graph.entry(module.clone()).or_default();
        for imported in imports(&code(&text)) {
            if imported != module && modules.contains(&imported) {
                edges.insert(imported);
            }
        }
    }
    graph
}

/// A cycle through `start`, if any, as the path of modules.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((module, path)) = stack.pop() {
        for next in graph.get(&module).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_string());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn the_import_reader_finds_grouped_and_nested_imports() {
    let found =
        imports("use crate::{Error, report::{html, workbook}, rules::codes::Source};\nlet x = crate::frame::f();");
    assert_eq!(found, ["Error", "frame", "report", "rules"].map(String::from).into_iter().collect());
}

#[test]
fn no_import_cycle_among_modules() {
    let graph = graph();
    assert!(graph.len() > 10, "the modules of src/ were found: {graph:?}");
    for module in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, module) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn leaves_import_only_leaves() {
    for (module, imported) in graph() {
        if LEAVES.contains(&module.as_str()) {
            let outside: Vec<&String> = imported.iter().filter(|m| !LEAVES.contains(&m.as_str())).collect();
            assert!(outside.is_empty(), "leaf module {module} imports {outside:?}");
        }
    }
}

#[test]
fn rules_are_pure() {
    let mut files = Vec::new();
    sources(&repo().join("src/rules"), &mut files);
    assert!(files.len() > 10);
    for file in files {
        let code = code(&std::fs::read_to_string(&file).unwrap());
        for banned in ["rayon", "polars", "unsafe", "std::fs", "File::", "std::thread", "crate::engine", "crate::frame"]
        {
            assert!(!code.contains(banned), "{} uses {banned}", file.display());
        }
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("//! "), "{} opens with what it implements", file.display());
    }
}

/// One file per subcommand, none importing another: what two commands
/// share lives below them (`stored`, `replay`, `ledger`, `report`).
#[test]
fn no_subcommand_imports_another() {
    let mut files = Vec::new();
    sources(&repo().join("src/cmd"), &mut files);
    assert!(files.len() >= 6);
    for file in files {
        let code = code(&std::fs::read_to_string(&file).unwrap());
        assert!(!code.contains("crate::cmd"), "{} imports another subcommand", file.display());
    }
}

/// The ledger formats live in one place: no file but `ledger/format.rs`
/// compares a format number; writers and readers ask `ledger::Format`.
#[test]
fn only_the_format_module_compares_format_numbers() {
    let mut files = Vec::new();
    sources(&repo().join("src"), &mut files);
    for file in files.iter().filter(|f| !f.ends_with("ledger/format.rs")) {
        let code = code(&std::fs::read_to_string(file).unwrap());
        for line in code.lines() {
            let compares = ["format >", "format <", "format ==", "format: 2", "format: 3", "format: 4"]
                .iter()
                .any(|pattern| line.contains(pattern));
            assert!(!compares, "{} compares a format number: {}", file.display(), line.trim());
        }
    }
}

/// Output column names live in `src/schema`: no code outside it spells
/// one as a string (reading a stored table back by column, naming a
/// table's columns, naming an exception's field), except the test modules.
#[test]
fn no_output_column_is_named_outside_the_schema() {
    use voucher_settle::schema::output;
    let tables = [
        &output::SETTLEMENTS[..],
        &output::EXCEPTIONS[..],
        &output::PAYOUTS[..],
        &output::USAGE[..],
        &output::REVERSALS[..],
        &output::REFUNDS[..],
        &output::RISK[..],
        &output::SAMPLE[..],
        &output::STATEMENT_LINES[..],
        &output::YEAR_BATCHES[..],
        &output::YEAR_PROVIDERS[..],
        &output::YEAR_PROVIDERS_AFTER[..],
        &output::YEAR_ENTERPRISES[..],
        &output::YEAR_ENTERPRISES_AFTER[..],
        &output::YEAR_CATEGORIES[..],
        &output::YEAR_CODES[..],
        &output::YEAR_CODES_AFTER[..],
    ];
    // Words that are also values elsewhere: `explain`'s event kinds and the
    // key of the amount claimed among a settlement's bounds.
    const VALUES: [&str; 3] = ["settled", "rejected", "claimed"];
    let names: BTreeSet<&str> =
        tables.iter().flat_map(|t| t.iter().map(|c| c.name)).filter(|n| !VALUES.contains(n)).collect();
    let mut files = Vec::new();
    sources(&repo().join("src"), &mut files);
    let mut spelled = Vec::new();
    for file in files.iter().filter(|f| !f.to_string_lossy().contains("/schema/")) {
        let text = std::fs::read_to_string(file).unwrap();
        let end = text.find("#[cfg(test)]").unwrap_or(text.len());
        for line in code(&text[..end]).lines().filter(|l| !l.trim_start().starts_with("#[arg(")) {
            let quoted = line.split('"').skip(1).step_by(2);
            spelled.extend(
                quoted.filter(|q| names.contains(q)).map(|q| format!("{}: {q:?}: {}", file.display(), line.trim())),
            );
        }
    }
    assert!(spelled.is_empty(), "output column names spelled outside src/schema: {spelled:#?}");
}

/// A committed batch is read back through one reader (`stored`): no other
/// module reads a stored file or decodes a stored table itself.
#[test]
fn committed_batches_are_read_only_through_the_stored_reader() {
    let readers = ["stored_output(", "read_stored(", "read_stored_slices("];
    let mut files = Vec::new();
    sources(&repo().join("src"), &mut files);
    let mut found = Vec::new();
    for file in &files {
        let path = file.to_string_lossy();
        if path.contains("/src/stored/") || path.ends_with("/src/ledger/mod.rs") || path.ends_with("/src/frame.rs") {
            continue;
        }
        let code = code(&std::fs::read_to_string(file).unwrap());
        found.extend(readers.iter().filter(|r| code.contains(*r)).map(|r| format!("{path}: {r}")));
    }
    assert!(found.is_empty(), "stored files read outside src/stored: {found:#?}");
}

/// Functions short enough to read at once (TIGER_STYLE's 70 lines), except
/// the page templates and data tables named here with their reason.
#[test]
fn no_function_is_longer_than_seventy_lines() {
    const EXEMPT: [(&str, &str); 4] = [
        ("report_page", "the report page's HTML template"),
        ("html", "the year page's HTML template"),
        ("describe", "the table of codes and their messages"),
        ("inject", "synth's table of one change per code"),
    ];
    let mut files = Vec::new();
    sources(&repo().join("src"), &mut files);
    let mut long = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let test_module = lines.iter().position(|l| l.trim() == "#[cfg(test)]").unwrap_or(lines.len());
        let mut at = 0;
        while at < test_module {
            let line = lines[at];
            let indent = line.len() - line.trim_start().len();
            let body = line.trim_start().trim_start_matches("pub ").trim_start_matches("pub(crate) ");
            let is_fn = body.starts_with("fn ") && !line.trim_end().ends_with(';');
            if !is_fn {
                at += 1;
                continue;
            }
            let name = body[3..].split(['(', '<']).next().unwrap_or("").to_string();
            let close = format!("{}}}", " ".repeat(indent));
            let end = (at + 1..lines.len()).find(|&k| lines[k] == close).unwrap_or(at);
            if end + 1 - at > 70 && !EXEMPT.iter().any(|(n, _)| *n == name) {
                long.push(format!("{} {name}: {} lines", file.display(), end + 1 - at));
            }
            at = end + 1;
        }
    }
    assert!(long.is_empty(), "functions over 70 lines: {long:#?}");
}

/// The section numbers in a text after `rules ` (`rules 9.4`, `rules 6,
/// 9.4, 10.6`).
fn cited_sections(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("rules ") {
        let rest = &text[at + "rules ".len()..];
        let list: String = rest.chars().take_while(|c| c.is_ascii_digit() || ".,– ".contains(*c)).collect();
        for part in list.split(',') {
            let number = part.trim().trim_end_matches('.');
            let first = number.split('–').next().unwrap_or("");
            if first.starts_with(|c: char| c.is_ascii_digit()) {
                found.push(first.to_string());
            }
        }
    }
    found
}

/// Every section of the rules the code cites is a heading of
/// `docs/RULES.md` (`## 9.` and `### 9.4` give 9 and 9.4; `### 2.2–2.5`
/// gives 2.2 to 2.5).
#[test]
fn every_rules_section_the_code_cites_is_in_the_rules_document() {
    let rules = std::fs::read_to_string(repo().join("docs/RULES.md")).unwrap();
    let mut headings = BTreeSet::new();
    for line in rules.lines().filter(|l| l.starts_with('#')) {
        let number: String = line.trim_start_matches('#').trim().chars().take_while(|c| *c != ' ').collect();
        let number = number.trim_end_matches('.');
        match number.split_once('–') {
            Some((from, to)) => {
                let (major, a) = from.split_once('.').unwrap();
                let b: u32 = to.split_once('.').unwrap().1.parse().unwrap();
                headings.extend((a.parse::<u32>().unwrap()..=b).map(|n| format!("{major}.{n}")));
            }
            None if number.starts_with(|c: char| c.is_ascii_digit()) => headings.extend([number.to_string()]),
            None => {}
        }
    }
    assert!(headings.contains("4.3") && headings.contains("2.4") && headings.contains("10.6"), "{headings:?}");
    let mut files = Vec::new();
    sources(&repo().join("src"), &mut files);
    let mut missing = Vec::new();
    for file in &files {
        for section in cited_sections(&std::fs::read_to_string(file).unwrap()) {
            if !headings.contains(&section) {
                missing.push(format!("{}: rules {section}", file.display()));
            }
        }
    }
    assert!(missing.is_empty(), "sections cited but not in docs/RULES.md: {missing:#?}");
    assert_eq!(cited_sections("(rules 6, 9.4, 10.6)"), ["6", "9.4", "10.6"]);
}

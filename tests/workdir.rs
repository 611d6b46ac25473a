//! Each test gets its own folder with input files, runs the binary there and
//! reads what it wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const E1: &str = "91450100MA5KEX001C";
pub const E2: &str = "91450100MA5KEX002F";
pub const E3: &str = "91450200MA5KEX003P";
pub const E4: &str = "91450300MA5KEX0040";
pub const E5: &str = "91450400MA5KEX0058";
pub const P1: &str = "91450100MA5PRW001L";
pub const P2: &str = "91450100MA5PRW002P";
pub const P3: &str = "91450200MA5PRW0030";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_voucher-settle"))
}

pub struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn write(&self, relative: &str, contents: impl AsRef<[u8]>) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    pub fn read(&self, relative: &str) -> Vec<u8> {
        std::fs::read(self.path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
    }

    /// Copies the shipped example dataset and policy in, with a job file
    /// `job.toml` pointing at them.
    pub fn with_example() -> Workdir {
        let w = Workdir::new();
        let example = repo().join("fixtures/example-2025");
        for name in [
            "enterprises.csv",
            "designations.csv",
            "providers.csv",
            "products.csv",
            "2025-Q1/contracts.csv",
            "2025-Q2/contracts.csv",
        ] {
            w.write(&format!("data/{name}"), std::fs::read(example.join(name)).unwrap());
        }
        w.write("policy.toml", std::fs::read(repo().join("jobs/policy/gx-2025.toml")).unwrap());
        w.write("job.toml", JOB);
        w
    }

    /// A copy of `other`'s folder, files and all.
    pub fn copy_of(other: &Workdir) -> Workdir {
        let w = Workdir::new();
        let status =
            Command::new("cp").arg("-a").arg(format!("{}/.", other.dir.path().display())).arg(w.dir.path()).status();
        assert!(status.expect("cp").success());
        w
    }

    /// The example with its four quarters and their corrections (rules 9),
    /// the job naming `data/{batch}/corrections.csv`.
    pub fn with_corrections() -> Workdir {
        let w = Workdir::with_example();
        let example = repo().join("fixtures/example-2025");
        for quarter in ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"] {
            for file in ["contracts.csv", "corrections.csv"] {
                let name = format!("{quarter}/{file}");
                w.write(&format!("data/{name}"), std::fs::read(example.join(&name)).unwrap());
            }
        }
        w.write("job.toml", format!("{JOB}corrections = \"data/{{batch}}/corrections.csv\"\n"));
        w
    }

    /// The example with its corrections and refunds (rules 10.2) in every
    /// quarter, under the example's policy (no offsets).
    pub fn with_refunds() -> Workdir {
        let w = Workdir::with_corrections();
        let example = repo().join("fixtures/example-2025");
        for quarter in ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"] {
            let name = format!("{quarter}/refunds.csv");
            w.write(&format!("data/{name}"), std::fs::read(example.join(&name)).unwrap());
        }
        let job = String::from_utf8(w.read("job.toml")).unwrap();
        w.write("job.toml", format!("{job}refunds = \"data/{{batch}}/refunds.csv\"\n"));
        w
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(binary());
        command.current_dir(self.dir.path()).args(args);
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().expect("run binary")
    }

    /// Runs and asserts the exit code, showing stderr when it differs.
    pub fn run_ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn csv(&self, relative: &str) -> Vec<BTreeMap<String, String>> {
        read_csv(&self.path(relative))
    }

    /// Committed batch folders of the ledger, in order.
    pub fn committed(&self) -> Vec<String> {
        let dir = self.path("ledger/batches");
        let mut names: Vec<String> = match std::fs::read_dir(dir) {
            Ok(entries) => entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
    }
}

pub const JOB: &str = r#"
[job]
service_year = 2025
policy = "policy.toml"
ledger = "ledger"
output = "out/{batch}"

[inputs]
contracts = "data/{batch}/contracts.csv"
enterprises = "data/enterprises.csv"
designations = "data/designations.csv"
providers = "data/providers.csv"
products = "data/products.csv"
"#;

/// Rows of a BOM-prefixed CSV as column -> value maps.
pub fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "{} starts with a BOM", path.display());
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| headers.iter().zip(r.unwrap().iter()).map(|(h, v)| (h.to_string(), v.to_string())).collect())
        .collect()
}

/// A valid USCC with the given 17-character body (check character computed).
pub fn make_uscc(body: &str) -> String {
    let check =
        voucher_settle::rules::uscc::check_character(body.as_bytes()).expect("a 17-character body from the alphabet");
    format!("{body}{}", check as char)
}

/// The names in a folder, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// One entry of a zip file (a workbook) as text.
pub fn unzip(bytes: &[u8], name: &str) -> String {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut text = String::new();
    archive.by_name(name).unwrap().read_to_string(&mut text).unwrap();
    text
}

//! Differential: CPython's own unpickler (a persistent `python3` child, its `find_class`
//! recording instead of importing) against the scanner. Every import CPython makes on an input
//! must be one the scanner reports, or the scanner must have flagged a name it could not
//! follow, or refused the pickle as one it cannot read to the end (which the validator
//! refuses). Needs python3; bench/fuzz.sh runs it like the others.
#![no_main]
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

const ORACLE: &str = r#"
import io, json, pickle, resource, struct, sys
# CPython's own unpickler can be made to allocate without bound (LONG_BINPUT 0x5c560a30
# sizes its memo for 1.5 billion entries): capped, that is a MemoryError like any other
# failure, not an oracle killed by the kernel.
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
class R(pickle.Unpickler):
    def __init__(self, f, seen):
        super().__init__(f); self.seen = seen
    def find_class(self, m, n):
        self.seen.append(m + "." + n); return lambda *a, **k: None
    def persistent_load(self, pid):
        return None
inp, out = sys.stdin.buffer, sys.stdout
while True:
    head = inp.read(4)
    if len(head) < 4: break
    data = inp.read(struct.unpack("<I", head)[0])
    f, seen = io.BytesIO(data), []
    for _ in range(16):
        if f.tell() >= len(data): break
        try: R(f, seen).load()
        except BaseException: break
    out.write(json.dumps(seen) + "\n"); out.flush()
"#;

struct Oracle {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

static PY: OnceLock<Mutex<Oracle>> = OnceLock::new();

fn cpython_imports(data: &[u8]) -> Vec<String> {
    let py = PY.get_or_init(|| {
        let mut child = Command::new("python3")
            .args(["-c", ORACLE])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Mutex::new(Oracle {
            _child: child,
            stdin,
            stdout,
        })
    });
    let mut o = py.lock().expect("one fuzz thread");
    o.stdin
        .write_all(&(data.len() as u32).to_le_bytes())
        .expect("write to python");
    o.stdin.write_all(data).expect("write to python");
    o.stdin.flush().expect("flush to python");
    let mut line = String::new();
    o.stdout.read_line(&mut line).expect("python answers");
    serde_json::from_str(&line).expect("the oracle prints a JSON list")
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let cpython = cpython_imports(data);
    if cpython.is_empty() {
        return;
    }
    // Scanned as the validator scans a file of unknown kind: strictly if it starts with
    // PROTO. A pickle it cannot read to the end is refused (pickle-unreadable), which is as
    // safe as naming every import.
    let proto = data.len() >= 2 && data[0] == 0x80 && data[1] <= 5;
    let report = repo_rules::weights::pickle::scan_bytes(data, proto);
    if report.error.is_some() {
        return;
    }
    let ours: Vec<String> = report.imports.iter().map(|i| i.to_string()).collect();
    let flagged = report.imports.iter().any(|i| i.module == "unknown");
    for want in &cpython {
        assert!(
            flagged || ours.contains(want),
            "CPython imports {want}; the scanner reports {ours:?}"
        );
    }
});

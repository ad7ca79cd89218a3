//! The scanner's unit tests: opcodes, the memo, marks, windows and limits, one case each.

use super::reader::WINDOW;
use super::*;

fn found(data: &[u8]) -> (Vec<String>, Option<String>) {
    let r = scan_bytes(data, true);
    (r.imports.iter().map(|i| i.to_string()).collect(), r.error)
}

#[test]
fn protocol_0_and_text_memo_keys() {
    let (i, e) = found(b"(lp0\ncposix\nsystem\np1\nag1\naVtxt\np2\naI7\naF1.5\na.");
    assert_eq!((i, e), (vec!["posix.system".to_owned()], None));
    // "1_0" is memo key 10 to CPython: it overwrites "collections" with "posix".
    let (i, e) = found(
        b"Vcollections\np10\n0VOrderedDict\np11\n0Vposix\np1_0\n0Vsystem\np1_1\n0g10\ng11\n\x93.",
    );
    assert_eq!((i, e), (vec!["posix.system".to_owned()], None));
}

#[test]
fn marks_are_modelled_as_cpython_does() {
    // POP_MARK drops both strings above the mark, so posix.system is what is imported.
    let p = b"\x80\x04\x8c\x05posix\x8c\x06system(\x8c\x0bcollections\x8c\x0bOrderedDict1\x93.";
    assert_eq!(found(p).0, ["posix.system"]);
    // Popping below a mark is an underflow in CPython: the walk stops there too.
    let (_, e) = found(b"\x80\x04\x8c\x02os(\x93.");
    assert!(e.unwrap().contains("stack underflow"));
}

#[test]
fn names_computed_at_load_time_are_never_trusted() {
    // STACK_GLOBAL over the result of a call: the scanner cannot know the name.
    let p = b"\x80\x04ccollections\nOrderedDict\n)R\x8c\x06system\x93.";
    let (i, _) = found(p);
    assert!(
        i.contains(&"unknown.a name computed at load time".to_owned()),
        "{i:?}"
    );
}

#[test]
fn a_payload_after_a_huge_prefix_is_found_without_reading_the_prefix() {
    // 100 MiB of BINBYTES8 before the payload: the reader skips it.
    let prefix = 100u64 << 20;
    let mut head = b"\x80\x04\x8e".to_vec();
    head.extend_from_slice(&prefix.to_le_bytes());
    let tail = b"0cposix\nsystem\n(S'id'\ntR.".to_vec();
    let size = head.len() as u64 + prefix + tail.len() as u64;
    let read_bytes = std::cell::Cell::new(0u64);
    let read = |off: u64, len: u64| -> Option<Vec<u8>> {
        let end = (off + len).min(size);
        read_bytes.set(read_bytes.get() + (end - off));
        Some(
            (off..end)
                .map(|i| {
                    let h = head.len() as u64;
                    if i < h {
                        head[i as usize]
                    } else if i < h + prefix {
                        0
                    } else {
                        tail[(i - h - prefix) as usize]
                    }
                })
                .collect(),
        )
    };
    let r = scan(&read, size, true);
    assert_eq!(r.error, None);
    assert_eq!(r.imports[0].to_string(), "posix.system");
    assert!(
        read_bytes.get() < 4 * WINDOW,
        "read {} bytes",
        read_bytes.get()
    );
}

#[test]
fn not_a_pickle_is_quiet_unless_it_must_be_one() {
    let parquet = b"PAR1\x15\x04\x15\x10\x15\x14L\x15\x02\x15\x00\x12\x00\x00";
    let r = scan_bytes(parquet, false);
    assert!(
        !r.is_pickle && r.error.is_none() && r.imports.is_empty(),
        "{r:?}"
    );
    assert!(scan_bytes(parquet, true).error.is_some());
    // Raw tensor data after a legacy checkpoint's pickles is not taken for another pickle.
    let mut legacy = b"\x80\x02K\x01.\x80\x02K\x02.".to_vec();
    legacy.extend_from_slice(&[0x3f, 0x80, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00]);
    let r = scan_bytes(&legacy, true);
    assert_eq!((r.error, r.imports.len()), (None, 0));
}

#[test]
fn a_global_name_too_long_to_keep_is_still_an_import() {
    // Found by the pickle_oracle fuzz target: CPython reads a GLOBAL line of any length and
    // calls find_class with it; the scanner stopped at its 64 KiB line limit and, the file
    // not starting with PROTO, took it for no pickle at all. Now it is an import it cannot
    // name (blocked), in a pickle it could not read.
    for op in [&b"c"[..], b"(i"] {
        let mut data = op.to_vec();
        data.extend_from_slice(b"os\nsys");
        data.extend(std::iter::repeat_n(0u8, 144_151));
        data.extend_from_slice(b"tem\n(S'id'\ntR.");
        let r = scan_bytes(&data, false);
        assert!(r.is_pickle, "{:?}", r.error);
        assert!(r.error.is_some());
        assert!(r.imports.iter().any(|i| i.module == "unknown"), "{r:?}");
        assert_eq!(verdict(&r.imports[0]), Verdict::Dangerous);
    }
    // A long line elsewhere (a protocol 0 INT argument) is only a line too long to read.
    let mut int = b"I".to_vec();
    int.extend(std::iter::repeat_n(b'1', 70_000));
    int.extend_from_slice(b"\n.");
    assert!(scan_bytes(&int, false).imports.is_empty());
}

#[test]
fn a_line_argument_too_long_to_keep_is_a_value_not_the_end() {
    // Found by the pickle_oracle fuzz target: a UNICODE line of 75 KB (`\u0073` and NULs)
    // named the attribute of a STACK_GLOBAL; CPython decoded it and imported, while the scanner
    // had stopped at its line limit and, no import seen yet, took the file for no pickle.
    let mut data = b"V\\u106fs\nV\\u0073".to_vec();
    data.extend(std::iter::repeat_n(0u8, 75_000));
    data.extend_from_slice(b"\n\x93(tR.");
    let r = scan_bytes(&data, false);
    assert!(r.is_pickle, "{r:?}");
    assert!(
        r.imports.iter().any(|i| verdict(i) == Verdict::Dangerous),
        "{r:?}"
    );
    // A long STRING the same way.
    let mut data = b"S'os'\nS'".to_vec();
    data.extend(std::iter::repeat_n(b'x', 70_000));
    data.extend_from_slice(b"'\n\x93(tR.");
    let r = scan_bytes(&data, false);
    assert!(
        r.imports.iter().any(|i| verdict(i) == Verdict::Dangerous),
        "{r:?}"
    );
}

#[test]
fn a_read_across_the_end_of_a_frame_is_refused() {
    // Found by the pickle_oracle fuzz target: a GLOBAL name line that runs past the end of its
    // FRAME. CPython's C unpickler, with only the frame buffered, drops the frame's rest and
    // reads the line from after it (importing `si(chx.hx` where a linear reading sees another
    // name); what it does depends on the file object, so the scanner refuses to guess.
    let data = b"\x80\x04\x95\x0c\x00\x00\x00\x00\x00\x00\x00csi(chx\ns(pxhx\n(tR.";
    // Strict, as the validator scans anything that starts with PROTO.
    let r = scan_bytes(data, true);
    assert!(
        r.error.as_deref().is_some_and(|e| e.contains("frame")),
        "{r:?}"
    );
    // A frame that ends where an opcode ends, as picklers write them, reads on.
    let ok = b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00\x8c\x03abc\x94K\x01\x86\x94.";
    let r = scan_bytes(ok, true);
    assert_eq!(r.error, None, "{r:?}");
    // So does a big string after its frame (the pickler ends the frame before large data).
    let mut big = b"\x80\x04\x95\x09\x00\x00\x00\x00\x00\x00\x00\x8e".to_vec();
    big.extend_from_slice(&8u64.to_le_bytes());
    big.extend_from_slice(b"12345678.");
    assert_eq!(scan_bytes(&big, true).error, None);
}

#[test]
fn a_pickle_that_does_not_start_with_proto_is_still_one_once_it_has_proto() {
    // Found by the pickle_oracle fuzz target: `}` opcodes, then PROTO and a GLOBAL line that
    // crosses its FRAME. Not starting with PROTO, the scan was not strict, and its refusal of
    // the frame-crossing read was dropped as "no pickle"; CPython imported through it.
    let mut data = b"}}}}".to_vec();
    data.extend_from_slice(b"\x80\x04\x95\x0c\x00\x00\x00\x00\x00\x00\x00csi(chx\ns(pxhx\n(tR.");
    let r = scan_bytes(&data, false);
    assert!(r.is_pickle, "{r:?}");
    assert!(
        r.error.as_deref().is_some_and(|e| e.contains("frame")),
        "{r:?}"
    );
}

//! The pickle scanner, strict and sniffing. Everything it reports comes from a walk that
//! never panics, whatever the opcodes.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let strict = repo_rules::weights::pickle::scan_bytes(data, true);
    let sniff = repo_rules::weights::pickle::scan_bytes(data, false);
    // Sniffing never finds less than a strict scan of a real pickle.
    if sniff.is_pickle {
        assert_eq!(strict.imports, sniff.imports);
    }
});

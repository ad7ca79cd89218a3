//! `pg-testkit DB...`: starts a throwaway PostgreSQL server (see the library), creates the
//! databases named, prints one `NAME=URL` line for each, then serves until its stdin closes.
//! For the benchmarks.
#![forbid(unsafe_code)]

fn main() {
    let pg = pg_testkit::Postgres::start();
    for db in std::env::args().skip(1) {
        println!("{db}={}", pg.create_database(&db));
    }
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
    drop(pg);
}

//! Puts memory.x where the linker finds it, and says what the build was configured with.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("OUT_DIR is writable");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-env-changed=DISCORD_TOKEN");
    if env::var_os("DISCORD_TOKEN").is_none() {
        // Not an error: CI builds without a token. Never print the token itself.
        println!(
            "cargo:warning=DISCORD_TOKEN is not set: the firmware carries a placeholder token that \
             Discord refuses (close code 4004); set it when building for a real bot"
        );
    }
}

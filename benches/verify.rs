//! `cargo bench --bench verify`: the CPU cost of checking a second factor, per challenge.
//! A challenge opens the sealed secret (XChaCha20-Poly1305) and computes the TOTP window
//! (three HMAC-SHA1 for skew 1); a recovery code costs one HMAC-SHA256. argon2id is shown
//! as the baseline it is measured against (the password step of the same sign-in).

use std::hint::black_box;
use std::time::{Duration, Instant};

use deadbolt::domain::password::{hash_password, verify_password, Password};
use deadbolt::domain::recovery::RecoveryCode;
use deadbolt::domain::time::UnixTime;
use deadbolt::domain::totp::{self, Code, TotpSecret};
use deadbolt::keyring::Keyring;

/// Runs `work` repeatedly for about `budget` and returns the mean time per call.
fn measure(budget: Duration, mut work: impl FnMut()) -> Duration {
    for _ in 0..10 {
        work();
    }
    let started = Instant::now();
    let mut calls = 0u32;
    while started.elapsed() < budget {
        work();
        calls += 1;
    }
    started.elapsed() / calls.max(1)
}

fn main() {
    let dir = std::env::temp_dir().join(format!("deadbolt-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok();
    let key_path = dir.join("deadbolt.key");
    let Ok((keys, _)) = Keyring::load_or_create(&key_path) else {
        eprintln!("cannot create a key file in {}", dir.display());
        return;
    };
    let secret = TotpSecret::generate();
    let sealed = keys.seal(secret.as_bytes(), b"account");
    let now = UnixTime(1_800_000_000);
    let Ok(code) = Code::parse("123456") else {
        return;
    };
    let budget = Duration::from_secs(2);

    let window = measure(budget, || {
        black_box(totp::verify(black_box(&secret), code, now, 1, Some(0)));
    });
    let open = measure(budget, || {
        black_box(keys.open(black_box(&sealed), b"account").ok());
    });
    let challenge = measure(budget, || {
        if let Ok(bytes) = keys.open(&sealed, b"account") {
            if let Some(opened) = TotpSecret::from_bytes(&bytes) {
                black_box(totp::verify(&opened, code, now, 1, Some(0)));
            }
        }
    });
    let recovery = RecoveryCode::generate();
    let hmac_key = [7u8; 32];
    let recovery_hash = measure(budget, || {
        black_box(recovery.hash(black_box(&hmac_key)));
    });
    let password = Password::new("violet anchor drifts seven lanterns");
    let Ok(phc) = hash_password(&password) else {
        return;
    };
    let argon2 = measure(Duration::from_secs(3), || {
        black_box(verify_password(&password, &phc));
    });

    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "TOTP window check (skew 1, 3 × HMAC-SHA1): {:>9.2} µs",
        micros(window)
    );
    println!(
        "open a sealed secret (XChaCha20-Poly1305): {:>9.2} µs",
        micros(open)
    );
    println!(
        "challenge CPU total (open + window):      {:>9.2} µs",
        micros(challenge)
    );
    println!(
        "recovery code keyed hash (HMAC-SHA256):   {:>9.2} µs",
        micros(recovery_hash)
    );
    println!(
        "argon2id verify (19 MiB, t=2, p=1):       {:>9.2} µs",
        micros(argon2)
    );
    println!(
        "challenge check / argon2id verify:        {:>9.5}",
        challenge.as_secs_f64() / argon2.as_secs_f64()
    );
    std::fs::remove_dir_all(&dir).ok();
}

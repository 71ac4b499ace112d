//! Secrets sealed at rest, and `deadbolt keys rotate`.

use crate::helpers::*;
use crate::sessions::sqlite_bytes;
use deadbolt::keyring::Keyring;
use deadbolt::secrets::{recovery_code_key, rotate_master_key};
use deadbolt::store::SealedSlot;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_file_holds_no_totp_secret_code_or_recovery_code_in_clear() {
    let app = spawn_app(Backend::Sqlite).await;
    let user = app.enrolled("ada@example.com").await;
    let code = app.code(&user.secret);
    let challenge = app.challenge(&user.email).await;
    app.answer_code(&challenge, &code).await;
    let bytes = sqlite_bytes(&app);
    assert!(
        contains(&bytes, b"ada@example.com"),
        "the check reads the right file"
    );
    let raw_secret = data_encoding::BASE32_NOPAD
        .decode(user.secret.as_bytes())
        .unwrap();
    assert!(
        !contains(&bytes, user.secret.as_bytes()),
        "base32 secret in clear"
    );
    assert!(!contains(&bytes, &raw_secret), "raw secret in clear");
    for recovery in &user.recovery_codes {
        assert!(
            !contains(&bytes, recovery.as_bytes()),
            "{recovery} in clear"
        );
        assert!(
            !contains(&bytes, recovery.replace('-', "").as_bytes()),
            "{recovery} in clear"
        );
    }
    assert!(
        !contains(&bytes, challenge.as_bytes()),
        "challenge token in clear"
    );
}

/// Opens every sealed secret of the app's store with the key file as it is now.
async fn open_all(app: &TestApp, keys: &Keyring) -> usize {
    let secrets = app.store.sealed_secrets().await.unwrap();
    for (slot, sealed) in &secrets {
        let aad = deadbolt::secrets::associated_data(slot);
        keys.open(sealed, &aad)
            .unwrap_or_else(|e| panic!("{slot:?} does not open: {e}"));
    }
    secrets.len()
}

async fn rotation_reseals_everything_and_keeps_codes_working(backend: Backend) {
    let app = spawn_app(backend).await;
    app.enrolled("ada@example.com").await;
    let bob_token = app.signed_in("bob@example.com").await;
    app.enroll(&bob_token).await; // a pending secret, sealed too
    let key_path = app.dir.path().join("deadbolt.key");
    let (before, _) = Keyring::load_or_create(&key_path).unwrap();
    let old_id = before.current().id.clone();
    assert_eq!(
        open_all(&app, &before).await,
        3,
        "ada's secret, bob's pending, the HMAC key"
    );

    let rotation = rotate_master_key(app.store.as_ref(), &key_path)
        .await
        .unwrap();
    assert!(!rotation.resumed);
    assert_eq!(rotation.resealed, 3);
    let (after, _) = Keyring::load_or_create(&key_path).unwrap();
    assert_eq!(after.keys().len(), 1, "the old key is gone");
    assert_ne!(after.current().id, old_id);
    assert_eq!(open_all(&app, &after).await, 3);
    for (_, sealed) in app.store.sealed_secrets().await.unwrap() {
        assert_eq!(sealed.key_id, after.current().id);
    }
    // The recovery-code key survived: the same codes still hash the same.
    let key = recovery_code_key(app.store.as_ref(), &after).await.unwrap();
    assert_eq!(key, app.recovery_key);
}

async fn an_interrupted_rotation_leaves_everything_readable_and_resumes(backend: Backend) {
    let app = spawn_app(backend).await;
    app.enrolled("ada@example.com").await;
    let key_path = app.dir.path().join("deadbolt.key");
    let (original, _) = Keyring::load_or_create(&key_path).unwrap();
    // Crash after step 1: the file holds the new key and the old one.
    let both = original.with_new_key();
    both.write(&key_path).unwrap();
    // Crash midway through step 2: one secret re-sealed, the other not.
    let secrets = app.store.sealed_secrets().await.unwrap();
    let (slot, sealed) = secrets
        .iter()
        .find(|(slot, _)| matches!(slot, SealedSlot::TotpSecret(_)))
        .unwrap();
    let aad = deadbolt::secrets::associated_data(slot);
    let fresh = both.seal(&both.open(sealed, &aad).unwrap(), &aad);
    assert!(app.store.reseal(slot, sealed, &fresh).await.unwrap());
    // A stale expectation changes nothing.
    assert!(!app.store.reseal(slot, sealed, &fresh).await.unwrap());
    let (reloaded, _) = Keyring::load_or_create(&key_path).unwrap();
    assert_eq!(
        open_all(&app, &reloaded).await,
        2,
        "every secret readable mid-rotation"
    );

    let rotation = rotate_master_key(app.store.as_ref(), &key_path)
        .await
        .unwrap();
    assert!(
        rotation.resumed,
        "no third key: the interrupted rotation is finished"
    );
    assert_eq!(rotation.key_id, both.current().id);
    assert_eq!(rotation.resealed, 1);
    let (after, _) = Keyring::load_or_create(&key_path).unwrap();
    assert_eq!(after.keys().len(), 1);
    assert_eq!(open_all(&app, &after).await, 2);
}

backend_tests!(
    rotation_reseals_everything_and_keeps_codes_working,
    an_interrupted_rotation_leaves_everything_readable_and_resumes,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restarted_after_rotation_still_signs_in_with_codes() {
    let app = spawn_app(Backend::Sqlite).await;
    let user = app.enrolled("ada@example.com").await;
    let key_path = app.dir.path().join("deadbolt.key");
    rotate_master_key(app.store.as_ref(), &key_path)
        .await
        .unwrap();
    let restarted = respawn(&app).await;
    restarted.clock.set(app.clock_now().plus_seconds(30));
    let challenge = restarted.challenge(&user.email).await;
    let reply = restarted
        .answer_code(&challenge, &restarted.code(&user.secret))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let challenge = restarted.challenge(&user.email).await;
    let reply = restarted
        .answer_recovery(&challenge, &user.recovery_codes[0])
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}

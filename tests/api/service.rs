//! The systemd unit `deploy/deadbolt.service` (README: "Running it as a service"): it keeps the
//! hardening the README promises, and `systemd-analyze verify` accepts it, with the real binary
//! in place of `/usr/local/bin/deadbolt`.
//!
//! Without `systemd-analyze` the check prints a notice and passes; under `CI` it fails
//! (`scripts/test-services` installs `systemd`).

use std::process::Command;

const UNIT: &str = include_str!("../../deploy/deadbolt.service");

/// The unit's settings, `Key=value` lines outside comments.
fn settings() -> Vec<(&'static str, &'static str)> {
    UNIT.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .collect()
}

#[test]
fn the_unit_runs_deadbolt_hardened_with_its_state_in_one_private_directory() {
    let settings = settings();
    for expected in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "deadbolt"),
        ("StateDirectoryMode", "0700"),
        ("ConfigurationDirectory", "deadbolt"),
        ("UMask", "0077"),
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("Restart", "on-failure"),
        ("KillSignal", "SIGTERM"),
        (
            "ExecStart",
            "/usr/local/bin/deadbolt --config /etc/deadbolt/deadbolt.toml serve",
        ),
        ("WorkingDirectory", "/var/lib/deadbolt"),
    ] {
        assert!(
            settings.contains(&expected),
            "{expected:?} is not in the unit"
        );
    }
    // Nothing but the state directory is writable: no ReadWritePaths opens another.
    assert!(settings.iter().all(|(key, _)| *key != "ReadWritePaths"));
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        assert!(
            std::env::var("CI").is_err(),
            "CI needs systemd-analyze (scripts/test-services installs systemd)"
        );
        eprintln!("NOTICE: systemd-analyze not installed; deploy/deadbolt.service not verified");
        return;
    };
    assert!(version.status.success());
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("deadbolt.service");
    let binary = env!("CARGO_BIN_EXE_deadbolt");
    std::fs::write(&unit, UNIT.replace("/usr/local/bin/deadbolt", binary)).unwrap();
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verified.stderr);
    assert!(verified.status.success(), "{said}");
    assert!(!said.contains("deadbolt.service"), "{said}");
    // The check has teeth: an unknown setting fails it.
    std::fs::write(&unit, UNIT.replace("PrivateTmp=yes", "PrivateTemp=yes")).unwrap();
    let refused = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("PrivateTemp"), "{said}");
}

/// The shipped configuration under the unit's command line (the state directory moved to a
/// temporary one): the server starts, keeps its database and a key file
/// of mode 0600 there, and stops with status 0 on SIGTERM.
#[test]
fn the_shipped_configuration_serves_from_the_state_directory_and_stops_on_sigterm() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let config = dir.path().join("deadbolt.toml");
    let shipped = include_str!("../../deploy/deadbolt.toml");
    let state_path = state.display().to_string();
    std::fs::write(&config, shipped.replace("/var/lib/deadbolt", &state_path)).unwrap();
    let mut command = crate::cli::deadbolt(&state);
    let exec = settings()
        .into_iter()
        .find(|(key, _)| *key == "ExecStart")
        .unwrap()
        .1;
    let args: Vec<String> = exec
        .split_whitespace()
        .skip(1)
        .map(|arg| arg.replace("/etc/deadbolt/deadbolt.toml", &config.display().to_string()))
        .collect();
    command.args(&args);
    let port = crate::cli::free_port();
    command.env("DEADBOLT_LISTEN", format!("127.0.0.1:{port}"));
    let server = crate::cli::Server::spawn(command);
    server.wait_until_listening();
    assert!(state.join("deadbolt.db").exists());
    let mode = std::fs::metadata(state.join("deadbolt.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let (status, stderr) = server.terminate();
    assert_eq!(status, Some(0), "{stderr}");
}

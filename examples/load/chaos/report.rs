//! The figures of a chaos run: requests, errors by class before, during and after each
//! fault, recovery time per fault, and the "twice / lost" counts.

use std::time::Duration;

use super::checks::{Counts, Totals};
use super::client::{Class, Record, CLASSES};

/// One fault: from `started` (the fault's act) to `healed` (PostgreSQL accepts connections
/// again, the killed node answers again, SIGCONT sent), on one node or (`None`) on the
/// database.
pub struct Fault {
    pub name: &'static str,
    pub node: Option<usize>,
    pub started: Duration,
    /// When it had struck whole: the database down, the process dead or stopped (a
    /// transaction it cut may have been cut at any instant from `started` to this).
    pub struck: Duration,
    pub healed: Duration,
}

/// The requests that overlapped a fault, or those that started between two instants and
/// overlapped no fault.
enum Phase<'a> {
    During(&'a Fault),
    Between(Duration, Duration),
}

pub struct Report {
    pub records: Vec<Record>,
    pub faults: Vec<Fault>,
    pub nodes: usize,
    pub ended: Duration,
    pub counts: Counts,
    pub totals: Totals,
}

impl Report {
    /// What broke a promise; empty when every count is zero.
    pub fn failures(&self) -> Vec<String> {
        let c = &self.counts;
        let mut failures: Vec<String> = [
            ("TOTP steps accepted twice (clients)", c.steps_twice_clients),
            (
                "TOTP steps accepted twice (database)",
                c.steps_twice_database,
            ),
            ("recovery codes used twice (clients)", c.codes_twice_clients),
            (
                "recovery codes used twice (database)",
                c.codes_twice_database,
            ),
            ("sessions lost", c.sessions_lost),
            (
                "successes after an acknowledged revocation",
                c.success_after_revocation,
            ),
            ("notifications lost", c.notifications_lost),
            ("notifications delivered twice", c.notifications_twice),
            ("nodes that did not come back", c.nodes_not_back),
            ("wrong-credential answers", self.count(Class::Wrong)),
            (
                "unexpected answers (500s and others)",
                self.count(Class::Unexpected),
            ),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(what, n)| format!("{what}: {n}"))
        .collect();
        for record in &self.records {
            if matches!(record.class, Class::Wrong | Class::Unexpected) && failures.len() < 30 {
                failures.push(format!(
                    "  {:?} on node {} at {:.2} s: {:?} {}",
                    record.kind,
                    record.node,
                    record.started.as_secs_f64(),
                    record.class,
                    record.detail
                ));
            }
        }
        if self.faults.len() < 3 {
            failures.push(format!("only {} faults happened", self.faults.len()));
        }
        failures
    }

    fn count(&self, class: Class) -> usize {
        self.records.iter().filter(|r| r.class == class).count()
    }

    /// From the fault's heal to the first success after it of a request that needs the
    /// database: on the faulted node, or (a database fault) on every node, the slowest.
    fn recovery(&self, fault: &Fault) -> Option<Duration> {
        let nodes: Vec<usize> = match fault.node {
            Some(node) => vec![node],
            None => (0..self.nodes).collect(),
        };
        let mut slowest = Duration::ZERO;
        for node in nodes {
            let first = self
                .records
                .iter()
                .filter(|r| r.node == node && r.class == Class::Ok && r.kind.writes())
                .filter(|r| r.ended >= fault.healed)
                .map(|r| r.ended)
                .min()?;
            slowest = slowest.max(first - fault.healed);
        }
        Some(slowest)
    }

    pub fn print(&self) {
        // Every request that failed, in order, for looking into a run.
        if std::env::var_os("CHAOS_FAILED").is_some() {
            let mut failed: Vec<&Record> = self
                .records
                .iter()
                .filter(|r| r.class > Class::Refused)
                .collect();
            failed.sort_by_key(|r| r.started);
            for r in failed {
                println!(
                    "{:.3}-{:.3} s node {} {:?} {:?} {}",
                    r.started.as_secs_f64(),
                    r.ended.as_secs_f64(),
                    r.node,
                    r.kind,
                    r.class,
                    r.detail
                );
            }
        }
        println!(
            "requests: {} in {:.1} s; by class: {}",
            self.records.len(),
            self.ended.as_secs_f64(),
            self.phase(Phase::Between(Duration::ZERO, Duration::MAX))
        );
        println!("{:<42} requests by class", "phase");
        let first = self.faults.first().map_or(self.ended, |f| f.started);
        println!(
            "{:<42} {}",
            "before the faults",
            self.phase(Phase::Between(Duration::ZERO, first))
        );
        for (n, fault) in self.faults.iter().enumerate() {
            let during = format!(
                "during {} ({:.1}-{:.1} s)",
                fault.name,
                fault.started.as_secs_f64(),
                fault.healed.as_secs_f64()
            );
            println!("{during:<42} {}", self.phase(Phase::During(fault)));
            let until = self
                .faults
                .get(n + 1)
                .map_or(self.ended, |next| next.started);
            println!(
                "{:<42} {}",
                format!("after {}", fault.name),
                self.phase(Phase::Between(fault.healed, until))
            );
        }
        for fault in &self.faults {
            match self.recovery(fault) {
                Some(time) => println!(
                    "recovery after {}: first success {:.0} ms after it was healed",
                    fault.name,
                    time.as_secs_f64() * 1000.0
                ),
                None => println!("recovery after {}: NO success after it", fault.name),
            }
        }
        let (c, t) = (&self.counts, &self.totals);
        println!(
            "accepted: {} TOTP steps, {} recovery codes; sessions given {}: {} valid, {} ended by a sign-out or revocation",
            t.steps_accepted, t.codes_accepted, t.sessions_given, t.sessions_valid, t.sessions_ended
        );
        println!(
            "outbox: {} webhook deliveries, all done {:.1} s after the load stopped; {} sent again \
             because a node was killed or PostgreSQL stopped before the sender recorded them \
             (at-least-once); received twice otherwise, first at: {:?}",
            t.outbox_rows,
            t.outbox_wait.as_secs_f64(),
            t.resent_after_cut,
            t.twice_first_at
        );
        println!(
            "TWICE/LOST (all must be 0): TOTP step twice {} (clients) {} (database); recovery code twice {} / {}; \
             success after revocation {}; sessions lost {}; notifications lost {}, twice {}; nodes not back {}",
            c.steps_twice_clients,
            c.steps_twice_database,
            c.codes_twice_clients,
            c.codes_twice_database,
            c.success_after_revocation,
            c.sessions_lost,
            c.notifications_lost,
            c.notifications_twice,
            c.nodes_not_back
        );
    }

    /// The requests of `phase`, by class.
    fn phase(&self, phase: Phase) -> String {
        let during = |r: &Record, f: &Fault| r.started <= f.healed && r.ended >= f.started;
        let records: Vec<&Record> = self
            .records
            .iter()
            .filter(|r| match phase {
                Phase::During(fault) => during(r, fault),
                // The whole run (until MAX) counts every request once.
                Phase::Between(from, until) if until == Duration::MAX => r.started >= from,
                Phase::Between(from, until) => {
                    r.started >= from
                        && r.started < until
                        && !self.faults.iter().any(|f| during(r, f))
                }
            })
            .collect();
        let mut line = format!("{:>6}:", records.len());
        for class in CLASSES {
            let n = records.iter().filter(|r| r.class == class).count();
            line.push_str(&format!(" {class:?} {n}"));
        }
        line
    }
}

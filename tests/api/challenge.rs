//! The sign-in challenge: codes accepted once (also under concurrency), recovery codes used
//! once, throttling with the injected clock, expiry and cancel.

use crate::helpers::*;
use futures::future::join_all;
use serde_json::json;

async fn a_password_sign_in_with_two_factor_gets_a_challenge(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.enrolled("ada@example.com").await;
    let reply = app.sign_in(&user.email, PASSWORD).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["status"], "two_factor_required");
    assert!(
        reply.body.get("token").is_none(),
        "no session before the second factor"
    );
    let challenge = &reply.body["challenge"];
    assert_eq!(challenge["methods"], json!(["totp", "recovery_code"]));
    assert_eq!(
        challenge["expires_at"],
        app.clock_now().plus_seconds(300).to_rfc3339()
    );
    let token = challenge["token"].as_str().unwrap();

    let signed_in = app.answer_code(token, &app.code(&user.secret)).await;
    assert_eq!(signed_in.status, 201, "{}", signed_in.text);
    assert_eq!(signed_in.body["status"], "authenticated");
    assert_eq!(signed_in.body["recovery_codes_remaining"], 8);
    assert_eq!(signed_in.body["two_factor_disabled"], false);
    let session = signed_in.body["token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/me", Some(session)).await.status, 200);
    // The challenge was single use.
    app.clock.advance(30);
    app.answer_code(token, &app.code(&user.secret))
        .await
        .assert_error(401, "invalid_challenge");
}

async fn a_used_code_is_refused_and_recorded(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.enrolled("ada@example.com").await;
    let code = app.code(&user.secret);
    let first = app.challenge(&user.email).await;
    assert_eq!(app.answer_code(&first, &code).await.status, 201);
    let second = app.challenge(&user.email).await;
    app.answer_code(&second, &code)
        .await
        .assert_error(401, "code_reused");
    // An earlier step is refused too once a later one was accepted.
    app.clock.advance(30);
    let next = app.code(&user.secret);
    let third = app.challenge(&user.email).await;
    assert_eq!(app.answer_code(&third, &next).await.status, 201);
    let previous = totp_code(&user.secret, app.clock_now().plus_seconds(-30));
    let fourth = app.challenge(&user.email).await;
    app.answer_code(&fourth, &previous)
        .await
        .assert_error(401, "code_reused");
    let kinds = app.event_kinds(&user.token).await;
    assert!(kinds.contains(&"code_reused".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"challenge_failed".to_owned()), "{kinds:?}");
}

async fn codes_within_a_minute_of_drift_are_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.enrolled("ada@example.com").await;
    app.clock.advance(60);
    let behind = totp_code(&user.secret, app.clock_now().plus_seconds(-30));
    let challenge = app.challenge(&user.email).await;
    assert_eq!(app.answer_code(&challenge, &behind).await.status, 201);
    app.clock.advance(120);
    let ahead = totp_code(&user.secret, app.clock_now().plus_seconds(30));
    let challenge = app.challenge(&user.email).await;
    assert_eq!(app.answer_code(&challenge, &ahead).await.status, 201);
    app.clock.advance(120);
    let too_old = totp_code(&user.secret, app.clock_now().plus_seconds(-60));
    let challenge = app.challenge(&user.email).await;
    app.answer_code(&challenge, &too_old)
        .await
        .assert_error(401, "invalid_code");
}

async fn one_code_raced_by_sixteen_requests_is_accepted_exactly_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.enrolled("ada@example.com").await;
    let mut challenges = Vec::new();
    for _ in 0..16 {
        challenges.push(app.challenge(&user.email).await);
    }
    let code = app.code(&user.secret);
    let replies = join_all(challenges.iter().map(|c| app.answer_code(c, &code))).await;
    let accepted = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        accepted,
        1,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    // The others were told the code is used, or (past ten attempts in flight, which the
    // second-factor throttle counts before checking) to wait.
    let mut reused = 0;
    for reply in replies.iter().filter(|r| r.status != 201) {
        match reply.code() {
            "code_reused" => reused += 1,
            _ => reply.assert_error(429, "too_many_attempts"),
        }
    }
    assert!(reused >= 1, "some losers saw code_reused");
}

async fn one_recovery_code_raced_by_sixteen_requests_is_used_exactly_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.enrolled("ada@example.com").await;
    let mut challenges = Vec::new();
    for _ in 0..16 {
        challenges.push(app.challenge(&user.email).await);
    }
    let code = &user.recovery_codes[3];
    let replies = join_all(challenges.iter().map(|c| app.answer_recovery(c, code))).await;
    let accepted: Vec<_> = replies.iter().filter(|r| r.status == 201).collect();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].body["recovery_codes_remaining"], 7);
    let mut refused = 0;
    for reply in replies.iter().filter(|r| r.status != 201) {
        match reply.code() {
            "invalid_recovery_code" => refused += 1,
            _ => reply.assert_error(429, "too_many_attempts"),
        }
    }
    assert!(refused >= 1, "some losers saw invalid_recovery_code");
    let me = app.get("/api/v1/me", Some(&user.token)).await;
    assert_eq!(me.body["two_factor"]["recovery_codes_remaining"], 7);
}

async fn recovery_codes_sign_in_once_each_in_any_spelling(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.enrolled("ada@example.com").await;
    let code = &user.recovery_codes[0];
    let typed = format!(" {} ", code.to_lowercase().replace('-', ""));
    let challenge = app.challenge(&user.email).await;
    let reply = app.answer_recovery(&challenge, &typed).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.body["recovery_codes_remaining"], 7);
    let challenge = app.challenge(&user.email).await;
    app.answer_recovery(&challenge, code)
        .await
        .assert_error(401, "invalid_recovery_code");
    app.answer_recovery(&challenge, "not-a-code")
        .await
        .assert_error(401, "invalid_recovery_code");
    let me = app.get("/api/v1/me", Some(&user.token)).await;
    assert_eq!(me.body["two_factor"]["recovery_codes_remaining"], 7);
    assert!(app
        .event_kinds(&user.token)
        .await
        .contains(&"recovery_code_used".to_owned()));
}

async fn five_wrong_codes_void_the_challenge(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.enrolled("ada@example.com").await;
    let challenge = app.challenge(&user.email).await;
    for wrong in ["000000", "111111", "222222", "333333", "abcdef"] {
        let reply = app.answer_code(&challenge, wrong).await;
        assert_eq!(reply.status, 401, "{}", reply.text);
    }
    app.answer_code(&challenge, &app.code(&user.secret))
        .await
        .assert_error(401, "invalid_challenge");
    // The password again gives a new challenge that works.
    let challenge = app.challenge(&user.email).await;
    assert_eq!(
        app.answer_code(&challenge, &app.code(&user.secret))
            .await
            .status,
        201
    );
}

async fn ten_second_factor_failures_lock_it_with_growing_back_off(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.enrolled("ada@example.com").await;
    lock_second_factor(&app, &user).await;
    let challenge = app.challenge(&user.email).await;
    let locked = app.answer_code(&challenge, &app.code(&user.secret)).await;
    locked.assert_error(429, "too_many_attempts");
    assert_eq!(locked.header("retry-after"), Some("60"));
    // Recovery codes are the same second factor: locked too.
    app.answer_recovery(&challenge, &user.recovery_codes[0])
        .await
        .assert_error(429, "too_many_attempts");
    app.clock.advance(60);
    app.answer_code(&challenge, "000000")
        .await
        .assert_error(401, "invalid_code");
    let locked = app.answer_code(&challenge, &app.code(&user.secret)).await;
    assert_eq!(locked.header("retry-after"), Some("120"));
    app.clock.advance(120);
    let challenge = app.challenge(&user.email).await;
    assert_eq!(
        app.answer_code(&challenge, &app.code(&user.secret))
            .await
            .status,
        201
    );
    // The success reset the count.
    app.clock.advance(30);
    let challenge = app.challenge(&user.email).await;
    for _ in 0..4 {
        app.answer_code(&challenge, "000000").await;
    }
    assert_eq!(
        app.answer_code(&challenge, &app.code(&user.secret))
            .await
            .status,
        201
    );
    assert!(app
        .event_kinds(&user.token)
        .await
        .contains(&"locked_out".to_owned()));
}

/// A right answer spends its factor in one transaction that claims the failure counter
/// as it read it; when another attempt moved the counter in between, nothing at all
/// changes (the step stays unspent, the challenge open), and the handler counts the
/// attempt first instead.
async fn a_completion_whose_counter_moved_changes_nothing(backend: Backend) {
    use deadbolt::domain::ids::{AccountId, Token};
    use deadbolt::domain::notification::Channels;
    use deadbolt::domain::throttle::Counter;
    use deadbolt::domain::totp::step_at;
    use deadbolt::signin::attempts::SECOND_FACTOR_PREFIX as THROTTLE_PREFIX;
    use deadbolt::store::{
        Completion, CounterClaim, Journal, RecoveryFollowUp, SignInCompletion, SpentFactor,
    };

    let app = spawn_app(backend).await;
    let user = app.enrolled("ada@example.com").await;
    let account = AccountId(app.account_id(&user.token).await);
    let key = format!("{THROTTLE_PREFIX}{account}");
    for read in [None, Some(1)] {
        let now = app.clock_now();
        let step = step_at(now);
        let challenge = Token::from_presented(&app.challenge(&user.email).await);
        if read.is_some() {
            app.answer_code(challenge.expose(), "000000")
                .await
                .assert_error(401, "invalid_code");
        }
        let context = app
            .store
            .challenge_context(&challenge.hash(), THROTTLE_PREFIX)
            .await
            .unwrap()
            .unwrap();
        let counter = context.counter;
        assert_eq!(counter.map(|c| c.failures), read);
        let sessions = app.store.list_sessions(&account).await.unwrap().len();
        // Another attempt is counted after the read.
        let moved = counter.map_or(1, |c| c.failures + 1);
        let after = Counter {
            failures: moved,
            window_start: now,
            locked_until: deadbolt::domain::time::UnixTime(0),
        };
        assert!(app
            .store
            .swap_counter(&key, counter.as_ref(), &after)
            .await
            .unwrap());
        let session = new_session(&account, now, None);
        let completion = SignInCompletion {
            challenge: &challenge.hash(),
            factor: SpentFactor::Step {
                step,
                secret: &context.record.secret.as_ref().unwrap().blob,
            },
            follow_up: RecoveryFollowUp::Nothing,
            throttle_key: &key,
            counter: CounterClaim::Unchanged(counter.as_ref()),
            session: &session,
            now,
        };
        let outcome = app
            .store
            .complete_sign_in(&completion, Journal::new(&[], Channels::default()))
            .await
            .unwrap();
        assert_eq!(outcome, Completion::CounterMoved);
        assert_eq!(
            app.store.throttle_counter(&key).await.unwrap(),
            Some(after),
            "the counter is as the other attempt left it"
        );
        assert_eq!(
            app.store.list_sessions(&account).await.unwrap().len(),
            sessions
        );
        // The same code, through the handler: the step was not spent, the challenge is
        // still open, and the attempt (counted first now) signs in and resets the count.
        let reply = app
            .answer_code(challenge.expose(), &user_code(&user.secret, step))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let cleared = app.store.throttle_counter(&key).await.unwrap();
        assert!(cleared.is_none_or(|c| c.failures == 0), "{cleared:?}");
        app.clock.advance(30);
    }
}

/// A code is spent only under the sealed secret it was judged against: if the secret was
/// replaced meanwhile (reset and enrolled again), the store refuses the step and changes
/// nothing.
async fn a_step_is_spent_only_under_the_secret_it_was_judged_against(backend: Backend) {
    use deadbolt::domain::ids::{AccountId, Token};
    use deadbolt::domain::notification::Channels;
    use deadbolt::domain::totp::step_at;
    use deadbolt::signin::attempts::SECOND_FACTOR_PREFIX as THROTTLE_PREFIX;
    use deadbolt::store::{
        Completion, CounterClaim, Journal, RecoveryFollowUp, SignInCompletion, SpentFactor,
    };

    let app = spawn_app(backend).await;
    let user = app.enrolled("ada@example.com").await;
    let account = AccountId(app.account_id(&user.token).await);
    let key = format!("{THROTTLE_PREFIX}{account}");
    let now = app.clock_now();
    let step = step_at(now);
    let challenge = Token::from_presented(&app.challenge(&user.email).await);
    let context = app
        .store
        .challenge_context(&challenge.hash(), THROTTLE_PREFIX)
        .await
        .unwrap()
        .unwrap();
    let mut other = context.record.secret.as_ref().unwrap().blob.clone();
    other[0] ^= 1;
    let session = new_session(&account, now, None);
    for counter in [CounterClaim::Counted, CounterClaim::Unchanged(None)] {
        let completion = SignInCompletion {
            challenge: &challenge.hash(),
            factor: SpentFactor::Step {
                step,
                secret: &other,
            },
            follow_up: RecoveryFollowUp::Nothing,
            throttle_key: &key,
            counter,
            session: &session,
            now,
        };
        let outcome = app
            .store
            .complete_sign_in(&completion, Journal::new(&[], Channels::default()))
            .await
            .unwrap();
        assert_eq!(outcome, Completion::FactorRefused);
    }
    let reply = app
        .answer_code(challenge.expose(), &user_code(&user.secret, step))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}

/// If two-factor is turned off and enrolled again with a new secret while a challenge is
/// open, a code from the old authenticator is refused and a code from the new one signs in.
async fn a_challenge_opened_before_a_new_enrolment_refuses_the_old_authenticator(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.enrolled("ada@example.com").await;
    let challenge = app.challenge(&user.email).await;
    app.turn_off_two_factor(&user.token).await;
    let enrollment = app.enroll(&user.token).await;
    assert_eq!(enrollment.status, 201, "{}", enrollment.text);
    let secret = enrollment.body["secret"].as_str().unwrap().to_owned();
    let confirmed = app.confirm(&user.token, &app.code(&secret)).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    app.clock.advance(30);
    let old = app.answer_code(&challenge, &app.code(&user.secret)).await;
    old.assert_error(401, "invalid_code");
    let new = app.answer_code(&challenge, &app.code(&secret)).await;
    assert_eq!(new.status, 201, "{}", new.text);
}

/// Ten wrong codes (over fresh challenges, since five void one): the second factor locks.
async fn lock_second_factor(app: &TestApp, user: &Enrolled) {
    let mut challenge = String::new();
    for attempt in 0..10 {
        if attempt % 4 == 0 {
            challenge = app.challenge(&user.email).await;
        }
        app.answer_code(&challenge, "000000")
            .await
            .assert_error(401, "invalid_code");
    }
}

/// A session for `account` starting `now`, as the handler would make it.
fn new_session(
    account: &deadbolt::domain::ids::AccountId,
    now: deadbolt::domain::time::UnixTime,
    user_agent: Option<&str>,
) -> deadbolt::store::NewSession {
    use deadbolt::domain::ids::{SessionId, Token};
    deadbolt::store::NewSession {
        session: deadbolt::domain::account::Session {
            id: SessionId::generate(),
            account_id: account.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at: now.plus_seconds(3600),
            ip: None,
            user_agent: user_agent.map(str::to_owned),
        },
        token_hash: Token::generate().hash(),
        amr: "pwd".to_owned(),
    }
}

fn user_code(secret: &str, step: i64) -> String {
    totp_code(secret, deadbolt::domain::time::UnixTime(step * 30))
}

async fn a_challenge_expires_after_five_minutes_and_can_be_cancelled(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.enrolled("ada@example.com").await;
    let challenge = app.challenge(&user.email).await;
    app.clock.advance(300);
    app.answer_code(&challenge, &app.code(&user.secret))
        .await
        .assert_error(401, "invalid_challenge");
    let challenge = app.challenge(&user.email).await;
    let cancelled = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/sessions/challenge",
            None,
            Some(json!({"challenge_token": challenge})),
        )
        .await;
    assert_eq!(cancelled.status, 204);
    app.answer_code(&challenge, &app.code(&user.secret))
        .await
        .assert_error(401, "invalid_challenge");
    app.answer_code("forged", &app.code(&user.secret))
        .await
        .assert_error(401, "invalid_challenge");
}

async fn a_challenge_answer_needs_exactly_one_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.enrolled("ada@example.com").await;
    let challenge = app.challenge(&user.email).await;
    for body in [
        json!({"challenge_token": challenge}),
        json!({"challenge_token": challenge, "code": "123456", "recovery_code": "ABCD-EFGH"}),
        json!({"challenge_token": challenge, "code": 123456}),
        json!({"challenge_token": challenge, "code": "123456", "extra": 1}),
    ] {
        app.post("/api/v1/sessions/challenge", None, body)
            .await
            .assert_error(422, "invalid_body");
    }
    assert_eq!(
        app.answer_code(&challenge, &app.code(&user.secret))
            .await
            .status,
        201
    );
}

async fn events_are_listed_newest_first_and_paginated(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.enrolled("ada@example.com").await;
    for _ in 0..3 {
        app.clock.advance(30);
        let challenge = app.challenge(&user.email).await;
        app.answer_code(&challenge, &app.code(&user.secret)).await;
    }
    let page = app
        .get("/api/v1/me/events?limit=2", Some(&user.token))
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    let events = page.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["kind"], "sign_in_succeeded");
    assert_eq!(events[0]["details"]["method"], "totp");
    assert_eq!(events[0]["ip"], "127.0.0.1");
    assert!(events[0]["id"].as_i64() > events[1]["id"].as_i64());
    let before = page.body["next_before"].as_i64().unwrap();
    let next = app
        .get(
            &format!("/api/v1/me/events?limit=2&before={before}"),
            Some(&user.token),
        )
        .await;
    let next_events = next.body["events"].as_array().unwrap();
    assert!(next_events
        .iter()
        .all(|e| e["id"].as_i64().unwrap() < before));
    let all = app.event_kinds(&user.token).await;
    assert_eq!(all.last().map(String::as_str), Some("sign_in_succeeded"));
    assert!(all.contains(&"enrollment_started".to_owned()));
    app.get("/api/v1/me/events?limit=0", Some(&user.token))
        .await
        .assert_error(422, "invalid_body");
    app.get("/api/v1/me/events?limit=x", Some(&user.token))
        .await
        .assert_error(422, "invalid_body");
    app.get("/api/v1/me/events", None)
        .await
        .assert_error(401, "unauthenticated");
}

/// Right codes completed at the same moment (on PostgreSQL, by one batched statement) each
/// end as they would alone: a right one signs in with its event, a reused step is refused, a
/// vanished challenge leaves its step spent, and one whose counter moved changes nothing,
/// however the others fare.
async fn concurrent_completions_each_end_as_they_would_alone(backend: Backend) {
    use deadbolt::domain::event::{EventKind, NewEvent};
    use deadbolt::domain::ids::{AccountId, Token};
    use deadbolt::domain::notification::Channels;
    use deadbolt::domain::throttle::Counter;
    use deadbolt::domain::time::UnixTime;
    use deadbolt::domain::totp::step_at;
    use deadbolt::signin::attempts::SECOND_FACTOR_PREFIX as THROTTLE_PREFIX;
    use deadbolt::store::{
        Completion, CounterClaim, Journal, RecoveryFollowUp, SignInCompletion, SpentFactor,
    };

    #[derive(Clone, Copy, PartialEq, Debug)]
    enum Case {
        Right,
        RightAfterAFailure,
        Reused,
        ChallengeGone,
        CounterMoved,
        /// A reused step whose counter moved: ends as any other moved counter.
        ReusedCounterMoved,
    }
    let cases = [
        Case::Right,
        Case::CounterMoved,
        Case::Right,
        Case::Reused,
        Case::RightAfterAFailure,
        Case::ChallengeGone,
        Case::ReusedCounterMoved,
        Case::Right,
    ];
    let app = spawn_app(backend).await;
    let mut users = Vec::new();
    for n in 0..cases.len() {
        users.push(app.enrolled(&format!("user{n}@example.com")).await);
    }
    let now = app.clock_now();
    let step = step_at(now);
    let mut prepared = Vec::new();
    for (user, case) in users.iter().zip(cases) {
        let account = AccountId(app.account_id(&user.token).await);
        let key = format!("{THROTTLE_PREFIX}{account}");
        let challenge = Token::from_presented(&app.challenge(&user.email).await);
        if case == Case::RightAfterAFailure {
            app.answer_code(challenge.expose(), "000000")
                .await
                .assert_error(401, "invalid_code");
        }
        let context = app
            .store
            .challenge_context(&challenge.hash(), THROTTLE_PREFIX)
            .await
            .unwrap()
            .unwrap();
        let counter = context.counter;
        let mut used_step = step;
        if matches!(case, Case::Reused | Case::ReusedCounterMoved) {
            used_step = context.record.last_step.unwrap();
        }
        match case {
            Case::CounterMoved | Case::ReusedCounterMoved => {
                let after = Counter {
                    failures: 1,
                    window_start: now,
                    locked_until: UnixTime(0),
                };
                assert!(app.store.swap_counter(&key, None, &after).await.unwrap());
            }
            Case::ChallengeGone => {
                app.store
                    .consume_challenge(&challenge.hash())
                    .await
                    .unwrap();
            }
            Case::Right | Case::RightAfterAFailure | Case::Reused => {}
        }
        let session = new_session(&account, now, Some("batch"));
        let event = NewEvent {
            account_id: Some(account.clone()),
            actor_id: None,
            workspace_id: None,
            kind: EventKind::SignInSucceeded,
            at: now,
            ip: None,
            user_agent: None,
            details: serde_json::json!({"method": "totp"}),
        };
        let secret = context.record.secret.as_ref().unwrap().blob.clone();
        prepared.push((
            case, account, key, challenge, counter, used_step, secret, session, event,
        ));
    }
    let completions = prepared.iter().map(
        |(_, _, key, challenge, counter, used_step, secret, session, event)| {
            let store = app.store.clone();
            let hash = challenge.hash();
            async move {
                let completion = SignInCompletion {
                    challenge: &hash,
                    factor: SpentFactor::Step {
                        step: *used_step,
                        secret,
                    },
                    follow_up: RecoveryFollowUp::Nothing,
                    throttle_key: key,
                    counter: CounterClaim::Unchanged(counter.as_ref()),
                    session,
                    now,
                };
                let events = [event.clone()];
                store
                    .complete_sign_in(&completion, Journal::new(&events, Channels::default()))
                    .await
                    .unwrap()
            }
        },
    );
    let outcomes = futures::future::join_all(completions).await;
    let issued = users[0].recovery_codes.len() as u32;
    for ((case, account, key, challenge, ..), outcome) in prepared.iter().zip(outcomes) {
        let expected = match case {
            Case::Right | Case::RightAfterAFailure => Completion::SignedIn {
                recovery_codes_remaining: issued,
            },
            Case::Reused => Completion::FactorRefused,
            Case::ChallengeGone => Completion::ChallengeGone,
            Case::CounterMoved | Case::ReusedCounterMoved => Completion::CounterMoved,
        };
        assert_eq!(outcome, expected, "{case:?}");
        let sessions = app.store.list_sessions(account).await.unwrap();
        let started = sessions
            .iter()
            .any(|s| s.user_agent.as_deref() == Some("batch"));
        assert_eq!(
            started,
            matches!(expected, Completion::SignedIn { .. }),
            "{case:?}"
        );
        let counter = app.store.throttle_counter(key).await.unwrap();
        let open = app
            .store
            .challenge_context(&challenge.hash(), THROTTLE_PREFIX)
            .await
            .unwrap();
        let last_step = app.store.two_factor(account).await.unwrap().last_step;
        match case {
            Case::Right | Case::RightAfterAFailure => {
                assert!(
                    counter.is_none_or(|c| c.failures == 0),
                    "{case:?} {counter:?}"
                );
                assert!(open.is_none(), "{case:?}: the challenge is consumed");
                assert_eq!(last_step, Some(step), "{case:?}");
            }
            Case::CounterMoved | Case::ReusedCounterMoved => {
                assert_eq!(
                    counter.map(|c| c.failures),
                    Some(1),
                    "{case:?}: left as moved"
                );
                assert!(open.is_some(), "{case:?}: the challenge stays open");
                assert!(last_step < Some(step), "{case:?}: the step stays unspent");
            }
            Case::Reused => assert!(open.is_some(), "a refused code leaves the challenge"),
            Case::ChallengeGone => {
                assert!(open.is_none());
                assert!(
                    last_step < Some(step),
                    "no challenge: the step stays unspent"
                );
            }
        }
    }
    // Exactly the signed-in ones recorded their event.
    for (user, case) in users.iter().zip(cases) {
        let kinds = app.event_kinds(&user.token).await;
        let recorded = kinds.iter().filter(|k| *k == "sign_in_succeeded").count();
        // One from the password sign-in that enrolled, one more when this completion signed in.
        let signed_in = matches!(case, Case::Right | Case::RightAfterAFailure);
        assert_eq!(recorded, 1 + usize::from(signed_in), "{case:?}: {kinds:?}");
    }
}

/// A challenge is answered from what the database holds when the answer comes, whatever
/// changed since the password step opened it.
async fn a_challenge_is_answered_from_what_the_database_holds_now(backend: Backend) {
    use deadbolt::domain::ids::{AccountId, Token};
    use deadbolt::signin::attempts::SECOND_FACTOR_PREFIX as THROTTLE_PREFIX;
    let app = spawn_app(backend).await;
    let user = app.enrolled("ada@example.com").await;
    let account = AccountId(app.account_id(&user.token).await);
    let key = format!("{THROTTLE_PREFIX}{account}");
    let failures = || async {
        let counter = app.store.throttle_counter(&key).await.unwrap();
        counter.map_or(0, |c| c.failures)
    };

    // Consumed elsewhere (in the store, as another node's cancel would): a right code and a
    // wrong one both find no challenge. Both were judged against the challenge's ticket, so
    // both are counted: no code is judged for free.
    let right = Token::from_presented(&app.challenge(&user.email).await);
    let wrong = Token::from_presented(&app.challenge(&user.email).await);
    app.store.consume_challenge(&right.hash()).await.unwrap();
    app.store.consume_challenge(&wrong.hash()).await.unwrap();
    app.answer_code(right.expose(), &app.code(&user.secret))
        .await
        .assert_error(401, "invalid_challenge");
    app.answer_code(wrong.expose(), "000000")
        .await
        .assert_error(401, "invalid_challenge");
    assert_eq!(failures().await, 2);
    // A token without its ticket (or with another's) names no challenge, and is not judged.
    let opened = app.challenge(&user.email).await;
    let (random, _) = opened.split_once('.').expect("a ticket");
    app.answer_code(random, &app.code(&user.secret))
        .await
        .assert_error(401, "invalid_challenge");
    let (_, ticket) = app
        .challenge(&user.email)
        .await
        .split_once('.')
        .map(|(r, t)| (r.to_owned(), t.to_owned()))
        .unwrap();
    app.answer_code(&format!("{random}.{ticket}"), &app.code(&user.secret))
        .await
        .assert_error(401, "invalid_challenge");
    assert_eq!(failures().await, 2);
    let reply = app.answer_code(&opened, &app.code(&user.secret)).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(failures().await, 0);

    // Failures counted after the password step: the right code still signs in (counted
    // first, since the counter moved), and the count starts again.
    app.clock.advance(30);
    let opened = app.challenge(&user.email).await;
    let other = app.challenge(&user.email).await;
    for _ in 0..3 {
        app.answer_code(&other, "000000")
            .await
            .assert_error(401, "invalid_code");
    }
    assert_eq!(failures().await, 3);
    let reply = app.answer_code(&opened, &app.code(&user.secret)).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(failures().await, 0);

    // A recovery code used after the password step: the count answered is the one left now.
    app.clock.advance(30);
    let opened = app.challenge(&user.email).await;
    let other = app.challenge(&user.email).await;
    let used = app.answer_recovery(&other, &user.recovery_codes[0]).await;
    assert_eq!(used.status, 201, "{}", used.text);
    assert_eq!(used.body["recovery_codes_remaining"], 7);
    let reply = app.answer_code(&opened, &app.code(&user.secret)).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.body["recovery_codes_remaining"], 7);

    // Locked after the password step: a right code and a wrong one are refused alike,
    // before anything is judged, counted or spent.
    app.clock.advance(30);
    let opened = app.challenge(&user.email).await;
    let opened_wrong = app.challenge(&user.email).await;
    lock_second_factor(&app, &user).await;
    let last_step = app.store.two_factor(&account).await.unwrap().last_step;
    let locked = app.answer_code(&opened, &app.code(&user.secret)).await;
    locked.assert_error(429, "too_many_attempts");
    let locked = app.answer_code(&opened_wrong, "000000").await;
    locked.assert_error(429, "too_many_attempts");
    assert_eq!(failures().await, 10);
    let unspent = app.store.two_factor(&account).await.unwrap().last_step;
    assert_eq!(unspent, last_step, "the right code's step stays unspent");
    // Both challenges are still open: after the lock, the right code signs in.
    app.clock.advance(60);
    let reply = app.answer_code(&opened, &app.code(&user.secret)).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}

/// Two-factor turned off after the password step: its challenge answers a right code and a
/// wrong one alike, `invalid_challenge`, and is gone.
async fn a_challenge_of_a_second_factor_turned_off_since_is_invalid(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.enrolled("ada@example.com").await;
    let right = app.challenge(&user.email).await;
    let wrong = app.challenge(&user.email).await;
    app.turn_off_two_factor(&user.token).await;
    // The first round finds two-factor off (and consumes the challenges), the second finds
    // no challenge.
    for _round in 0..2 {
        let code = app.code(&user.secret);
        for (challenge, answer) in [(&right, code.as_str()), (&wrong, "000000")] {
            app.answer_code(challenge, answer)
                .await
                .assert_error(401, "invalid_challenge");
        }
    }
}

/// Thirty wrong codes answered at once, each to a challenge of its own whose token carries
/// its ticket (so each is judged with no read): whatever the interleaving, the lock comes
/// after exactly ten judged codes, and each judged code was counted before it was answered.
async fn concurrent_wrong_codes_never_judge_more_than_ten(backend: Backend) {
    use deadbolt::domain::ids::AccountId;
    use deadbolt::signin::attempts::SECOND_FACTOR_PREFIX as THROTTLE_PREFIX;
    let app = spawn_app(backend).await;
    let user = app.enrolled("ada@example.com").await;
    let account = AccountId(app.account_id(&user.token).await);
    let mut challenges = Vec::new();
    for _ in 0..30 {
        let challenge = app.challenge(&user.email).await;
        assert!(
            challenge.contains('.'),
            "a challenge token carries its ticket"
        );
        challenges.push(challenge);
    }
    let wrong = wrong_code(&app.code(&user.secret));
    let burst = join_all(challenges.iter().map(|c| app.answer_code(c, &wrong))).await;
    let judged = burst.iter().filter(|r| r.status == 401).count();
    for reply in &burst {
        if reply.status == 401 {
            reply.assert_error(401, "invalid_code");
        } else {
            reply.assert_error(429, "too_many_attempts");
        }
    }
    assert!(judged <= 10, "{judged} codes were judged");
    let key = format!("{THROTTLE_PREFIX}{account}");
    let counter = app.store.throttle_counter(&key).await.unwrap().unwrap();
    assert_eq!(
        counter.failures as usize, judged,
        "each judged code was counted"
    );
    // The rest of the ten, one at a time; then even the right code meets the lock.
    for challenge in &challenges[..10 - judged] {
        app.answer_code(challenge, &wrong)
            .await
            .assert_error(401, "invalid_code");
    }
    let right = app.code(&user.secret);
    app.answer_code(&challenges[29], &right)
        .await
        .assert_error(429, "too_many_attempts");
}

/// Codes answered to a challenge consumed since are judged against its ticket and counted;
/// the lock they bring is recorded like any other.
async fn a_lock_brought_by_codes_to_a_consumed_challenge_is_recorded(backend: Backend) {
    use deadbolt::domain::ids::Token;
    let app = spawn_app(backend).await;
    let user = app.enrolled("ada@example.com").await;
    let challenge = app.challenge(&user.email).await;
    let hash = Token::from_presented(&challenge).hash();
    app.store.consume_challenge(&hash).await.unwrap();
    let wrong = wrong_code(&app.code(&user.secret));
    for _ in 0..10 {
        app.answer_code(&challenge, &wrong)
            .await
            .assert_error(401, "invalid_challenge");
    }
    app.answer_code(&challenge, &app.code(&user.secret))
        .await
        .assert_error(429, "too_many_attempts");
    let events = app
        .get("/api/v1/me/events?limit=100", Some(&user.token))
        .await;
    assert_eq!(events.status, 200, "{}", events.text);
    let locked = events.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "locked_out")
        .count();
    assert_eq!(locked, 1, "{}", events.text);
}

/// A six-digit code that is not `code`.
fn wrong_code(code: &str) -> String {
    let first = code.as_bytes()[0];
    let other = if first == b'9' {
        '0'
    } else {
        char::from(first + 1)
    };
    format!("{other}{}", &code[1..])
}

backend_tests!(
    a_lock_brought_by_codes_to_a_consumed_challenge_is_recorded,
    concurrent_wrong_codes_never_judge_more_than_ten,
    a_challenge_is_answered_from_what_the_database_holds_now,
    a_challenge_of_a_second_factor_turned_off_since_is_invalid,
    concurrent_completions_each_end_as_they_would_alone,
    a_challenge_opened_before_a_new_enrolment_refuses_the_old_authenticator,
    a_step_is_spent_only_under_the_secret_it_was_judged_against,
    a_completion_whose_counter_moved_changes_nothing,
    a_password_sign_in_with_two_factor_gets_a_challenge,
    a_used_code_is_refused_and_recorded,
    codes_within_a_minute_of_drift_are_accepted,
    one_code_raced_by_sixteen_requests_is_accepted_exactly_once,
    one_recovery_code_raced_by_sixteen_requests_is_used_exactly_once,
    recovery_codes_sign_in_once_each_in_any_spelling,
    five_wrong_codes_void_the_challenge,
    ten_second_factor_failures_lock_it_with_growing_back_off,
    a_challenge_expires_after_five_minutes_and_can_be_cancelled,
    a_challenge_answer_needs_exactly_one_factor,
    events_are_listed_newest_first_and_paginated,
);

/// On PostgreSQL a completion that waits on a row lock (another node's answer for the same
/// account, or any transaction holding its authenticator's row) does not hold up the node's
/// other sign-ins: after a while the next batch starts beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_held_by_a_row_lock_does_not_hold_up_other_sign_ins() {
    use sqlx::Connection;
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let app = spawn_app(backend).await;
    let held = app.enrolled("held@example.com").await;
    let free = app.enrolled("free@example.com").await;
    let held_challenge = app.challenge(&held.email).await;
    let free_challenge = app.challenge(&free.email).await;
    let held_id = app.account_id(&held.token).await;
    let mut locker = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    let mut lock = locker.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM two_factor WHERE account_id = $1 FOR UPDATE")
        .bind(&held_id)
        .execute(&mut *lock)
        .await
        .unwrap();
    let held_code = app.code(&held.secret);
    let held_answer = app.answer_code(&held_challenge, &held_code);
    tokio::pin!(held_answer);
    // Drive the held answer until its statement waits on the lock.
    let mut observer = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    loop {
        tokio::select! {
            reply = &mut held_answer => panic!("answered under the lock: {}", reply.text),
            () = tokio::time::sleep(std::time::Duration::from_millis(10)) => {}
        }
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut observer)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
    }
    // Another account signs in on the same node meanwhile.
    let free_code = app.code(&free.secret);
    let free_reply = tokio::select! {
        reply = app.answer_code(&free_challenge, &free_code) => reply,
        reply = &mut held_answer => panic!("answered under the lock: {}", reply.text),
        () = tokio::time::sleep(std::time::Duration::from_secs(10)) => {
            panic!("a sign-in of another account waited for the locked one")
        }
    };
    assert_eq!(free_reply.status, 201, "{}", free_reply.text);
    lock.commit().await.unwrap();
    let held_reply = held_answer.await;
    assert_eq!(held_reply.status, 201, "{}", held_reply.text);
}

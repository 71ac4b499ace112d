//! Code exchanges arriving at once on one PostgreSQL node share statements (the exchange
//! queue of `postgres/batch.rs`): each still ends as it would alone. A code presented twice
//! at once is granted once and its tokens revoked by the reuse; a refused exchange spends
//! its code and changes nothing for the others.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

use super::code_for_session;
use super::driver::{exchange, provider, userinfo, VERIFIER};
use crate::helpers::Backend;

const WRONG_VERIFIER: &str = "a-wrong-pkce-verifier-0123456789abcdefghijklmnopq";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchanges_at_once_on_one_postgres_node_each_end_as_alone() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let (app, _secrets) = provider(backend).await;
    let hal = app.signed_in("hal@example.com").await;
    let mut codes = Vec::new();
    for _ in 0..24 {
        codes.push(code_for_session(&app, &hal).await);
    }
    let (twice, rest) = codes.split_at(8);
    let (wrong, once) = rest.split_at(8);
    // Every request at once: each of `twice` two times, `wrong` with a wrong verifier,
    // `once` once.
    let mut requests: Vec<(&str, &str)> = Vec::new();
    for n in 0..8 {
        requests.push((&twice[n], VERIFIER));
        requests.push((&wrong[n], WRONG_VERIFIER));
        requests.push((&once[n], VERIFIER));
        requests.push((&twice[n], VERIFIER));
    }
    let answers: Vec<(StatusCode, Value)> = join_all(
        requests
            .iter()
            .map(|(code, verifier)| exchange(&app.base, code, verifier)),
    )
    .await;
    let answer_of = |code: &str| -> Vec<&(StatusCode, Value)> {
        requests
            .iter()
            .zip(&answers)
            .filter(|((c, _), _)| *c == code)
            .map(|(_, answer)| answer)
            .collect()
    };
    for code in twice {
        let both = answer_of(code);
        let granted: Vec<_> = both.iter().filter(|a| a.0 == StatusCode::OK).collect();
        assert_eq!(granted.len(), 1, "{both:?}");
        assert!(
            both.iter().any(|a| a.1["error"] == "invalid_grant"),
            "{both:?}"
        );
        // The reuse revoked what the code issued.
        let access = granted[0].1["access_token"].as_str().unwrap();
        assert_eq!(
            userinfo(&app.base, access).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    for code in wrong {
        let refused = answer_of(code);
        assert_eq!(refused[0].0, StatusCode::BAD_REQUEST, "{refused:?}");
        assert_eq!(refused[0].1["error"], "invalid_grant");
        // Spent by the refusal: the right verifier now finds a used code.
        let (status, body) = exchange(&app.base, code, VERIFIER).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    for code in once {
        let issued = answer_of(code);
        assert_eq!(issued[0].0, StatusCode::OK, "{issued:?}");
        let access = issued[0].1["access_token"].as_str().unwrap();
        assert_eq!(userinfo(&app.base, access).await.status(), StatusCode::OK);
    }
}

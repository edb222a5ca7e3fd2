//! Vectors from the providers' own material (documentation or their own
//! toolkits), beyond GitHub's and the Standard Webhooks specification's.

use super::*;

/// Slack's "Verifying requests from Slack" example: the documented secret,
/// timestamp and slash-command body give the documented signature.
#[test]
fn slack_documentation_vector() {
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let h = headers(&[
        ("x-slack-request-timestamp", "1531420618".into()),
        (
            "x-slack-signature",
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503".into(),
        ),
    ]);
    let verdict = |secret: &str, now: i64| {
        verify(
            &Scheme {
                scheme: SignatureScheme::Slack,
                header: None,
                tolerance: None,
            },
            &[secret],
            &Inbound {
                method: "POST",
                url: "https://hooks.example.com/slack",
                headers: &h,
                body: body.as_bytes(),
            },
            now,
        )
    };
    assert!(verdict("8f742231b10e8888abcd99yyyzzz85a5", 1_531_420_618 + 60).is_ok());
    assert_eq!(
        verdict("8f742231b10e8888abcd99yyyzzz85a6", 1_531_420_618),
        Err(Refusal::Mismatch)
    );
    assert!(matches!(
        verdict("8f742231b10e8888abcd99yyyzzz85a5", 1_531_420_618 + 301),
        Err(Refusal::OutOfWindow(_))
    ));
}

/// Sanity's own webhook toolkit (@sanity/webhook, test/signature.test.ts):
/// secret `test`, payload `{"_id":"resume"}`, millisecond timestamp.
#[test]
fn sanity_toolkit_vector() {
    let body = br#"{"_id":"resume"}"#;
    let verdict = |header: &str| {
        let h = headers(&[("sanity-webhook-signature", header.to_owned())]);
        verify(
            &Scheme {
                scheme: SignatureScheme::Sanity,
                header: None,
                tolerance: None,
            },
            &["test"],
            &Inbound {
                method: "POST",
                url: "https://hooks.example.com/sanity",
                headers: &h,
                body,
            },
            1_633_519_811,
        )
    };
    assert!(verdict("t=1633519811129,v1=tLa470fx7qkLLEcMOcEUFuBbRSkGujyskxrNXcoh0N0").is_ok());
    // The toolkit allows a space after the comma.
    assert!(verdict("t=1633519811129, v1=tLa470fx7qkLLEcMOcEUFuBbRSkGujyskxrNXcoh0N0").is_ok());
    // Its negative cases: another timestamp, another hash.
    assert_eq!(
        verdict("t=1633519811128,v1=tLa470fx7qkLLEcMOcEUFuBbRSkGujyskxrNXcoh0N0"),
        Err(Refusal::Mismatch)
    );
    assert_eq!(
        verdict("t=1633519811129,v1=tLa470fx7qkLLEcMOcEUFuBbRSkGujyskxrNXcoh0N1"),
        Err(Refusal::Mismatch)
    );
}

/// HubSpot's v3 procedure on its documented example (the client secret and
/// contact.creation body of its validation page), with a URI holding an
/// escape HubSpot decodes before signing (`%40`).
#[test]
fn hubspot_v3_decodes_the_uri_as_documented() {
    let body = br#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;
    let h = headers(&[
        ("x-hubspot-request-timestamp", "1564113600000".into()),
        (
            "x-hubspot-signature-v3",
            "+sbhuTuJtFD085RfrG65KPeNUkU94vHnw4zXpAkBaIQ=".into(),
        ),
    ]);
    let verdict = verify(
        &Scheme {
            scheme: SignatureScheme::Hubspot,
            header: None,
            tolerance: None,
        },
        &["yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"],
        &Inbound {
            method: "POST",
            url: "https://www.example.com/webhook_uri?portal=62515&email=a%40b.co",
            headers: &h,
            body,
        },
        1_564_113_600 + 10,
    );
    assert!(verdict.is_ok(), "{verdict:?}");
    assert_eq!(hubspot_uri("/a%2fb%20c%3F%zz"), "/a/b%20c?%zz");
}

/// Stripe's documentation shows a header but not the secret and payload
/// behind it: its shape (a `v0` entry after `v1`) must parse, and only the
/// signature may fail.
#[test]
fn stripe_documented_header_parses() {
    let h = headers(&[(
        "stripe-signature",
        "t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39".into(),
    )]);
    let verdict = verify(
        &Scheme {
            scheme: SignatureScheme::Stripe,
            header: None,
            tolerance: None,
        },
        &["whsec_not_the_docs_secret"],
        &Inbound {
            method: "POST",
            url: "https://hooks.example.com/stripe",
            headers: &h,
            body: b"{}",
        },
        1_492_774_577,
    );
    assert_eq!(verdict, Err(Refusal::Mismatch));
}

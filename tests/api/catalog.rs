//! The catalog: the seeded built-ins, and listing with filters and paging.
//! Registration and updates are in `catalog_registration`.

use patchbay::proto::v1::{
    ActionSpec, ConfigField, ConfigFieldType, GetIntegrationTypeRequest, IntegrationCategory,
    IntegrationType, ListIntegrationTypesRequest, Role as ProtoRole, SignatureScheme,
};
use tonic::Code;

use crate::helpers::{assert_error, spawn_app, violations};

/// A built-in type per built-in provider, named after it.
fn builtins() -> Vec<&'static str> {
    patchbay::providers::ids().collect()
}

fn builtin_count() -> usize {
    builtins().len()
}

fn list(page_size: i32, page_token: &str) -> ListIntegrationTypesRequest {
    ListIntegrationTypesRequest {
        page_size,
        page_token: page_token.into(),
        ..Default::default()
    }
}

pub fn custom_type(id: &str) -> IntegrationType {
    IntegrationType {
        name: format!("integrationTypes/{id}"),
        display_name: "Acme CRM".into(),
        category: IntegrationCategory::Crm.into(),
        description: "An in-house CRM".into(),
        capabilities: vec!["webhooks".into()],
        config_fields: vec![
            ConfigField {
                name: "region".into(),
                r#type: ConfigFieldType::String.into(),
                required: true,
                ..Default::default()
            },
            ConfigField {
                name: "api_key".into(),
                r#type: ConfigFieldType::String.into(),
                required: true,
                secret: true,
                ..Default::default()
            },
        ],
        actions: vec![ActionSpec {
            action: "sync".into(),
            description: "Pull records".into(),
            min_role: ProtoRole::Editor.into(),
        }],
        signature_scheme: SignatureScheme::Stripe.into(),
        probe: "http".into(),
        api_base_uri: "https://api.acme.test".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_builtin_catalog_is_seeded_with_real_fields() {
    let app = spawn_app().await;
    let token = app.token("u", &[]);
    let mut registry = app.registry(Some(&token));
    let all = registry
        .list_integration_types(list(0, ""))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(all.total_size as usize, builtin_count());
    let mut names: Vec<&str> = all
        .integration_types
        .iter()
        .map(|t| t.name.trim_start_matches("integrationTypes/"))
        .collect();
    names.sort_unstable();
    let mut wanted = builtins();
    wanted.sort_unstable();
    assert_eq!(names, wanted);

    let github = registry
        .get_integration_type(GetIntegrationTypeRequest {
            name: "integrationTypes/github".into(),
        })
        .await
        .expect("get github")
        .into_inner();
    let fields: Vec<&str> = github
        .config_fields
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    for wanted in ["owner", "repo", "branch", "access_token"] {
        assert!(
            fields.contains(&wanted),
            "github lacks {wanted}: {fields:?}"
        );
    }
    assert!(github.builtin && github.active && github.popular);
    assert_eq!(github.signature_scheme, i32::from(SignatureScheme::Github));
    assert_eq!(github.probe, "github");
    assert!(github.docs_uri.starts_with("https://"));
    let deploy = |t: &IntegrationType, action: &str| {
        t.actions
            .iter()
            .find(|a| a.action == action)
            .map(|a| a.min_role)
    };
    assert_eq!(deploy(&github, "push"), Some(ProtoRole::Editor.into()));
    assert_eq!(deploy(&github, "disconnect"), Some(ProtoRole::Admin.into()));

    let supabase = registry
        .get_integration_type(GetIntegrationTypeRequest {
            name: "integrationTypes/supabase".into(),
        })
        .await
        .expect("get supabase")
        .into_inner();
    let url = supabase
        .config_fields
        .iter()
        .find(|f| f.name == "database_url")
        .expect("supabase has database_url");
    assert!(url.secret && url.required);

    let missing = registry
        .get_integration_type(GetIntegrationTypeRequest {
            name: "integrationTypes/nope".into(),
        })
        .await;
    assert_error(missing, Code::NotFound, "NOT_FOUND");
    let malformed = registry
        .get_integration_type(GetIntegrationTypeRequest {
            name: "github".into(),
        })
        .await;
    assert_error(malformed, Code::InvalidArgument, "INVALID_ARGUMENT");
}

#[tokio::test]
async fn list_filters_by_category_capability_text_and_popularity() {
    let app = spawn_app().await;
    let token = app.token("u", &[]);
    let mut registry = app.registry(Some(&token));
    let names = |r: patchbay::proto::v1::ListIntegrationTypesResponse| {
        let mut n: Vec<String> = r
            .integration_types
            .into_iter()
            .map(|t| t.name.trim_start_matches("integrationTypes/").to_owned())
            .collect();
        n.sort();
        (n, r.total_size)
    };
    let crm = registry
        .list_integration_types(ListIntegrationTypesRequest {
            category: IntegrationCategory::Crm.into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(names(crm), (vec!["hubspot".into(), "salesforce".into()], 2));

    let deployments = registry
        .list_integration_types(ListIntegrationTypesRequest {
            capability: "deployments".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(names(deployments), (vec!["vercel".into()], 1));

    // Free text matches names and descriptions, case-insensitively.
    let text = registry
        .list_integration_types(ListIntegrationTypesRequest {
            query: "POSTGRES".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(names(text), (vec!["supabase".into()], 1));
    // LIKE wildcards are literal.
    let wildcard = registry
        .list_integration_types(ListIntegrationTypesRequest {
            query: "%".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(wildcard.total_size, 0);

    let popular = registry
        .list_integration_types(ListIntegrationTypesRequest {
            popular_only: true,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    let (popular, _) = names(popular);
    let all = registry
        .list_integration_types(ListIntegrationTypesRequest::default())
        .await
        .expect("list")
        .into_inner();
    let mut flagged: Vec<String> = all
        .integration_types
        .iter()
        .filter(|t| t.popular)
        .map(|t| t.name.trim_start_matches("integrationTypes/").to_owned())
        .collect();
    flagged.sort();
    assert_eq!(popular, flagged, "exactly the types flagged popular");
    for wanted in ["github", "hubspot", "supabase", "vercel"] {
        assert!(popular.iter().any(|p| p == wanted), "{wanted} is popular");
    }
}

#[tokio::test]
async fn list_pages_to_the_end_with_tokens() {
    let app = spawn_app().await;
    let token = app.token("u", &[]);
    let mut registry = app.registry(Some(&token));
    let mut seen = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = registry
            .list_integration_types(list(4, &page_token))
            .await
            .expect("page")
            .into_inner();
        assert_eq!(
            page.total_size as usize,
            builtin_count(),
            "total_size covers every page"
        );
        assert!(page.integration_types.len() <= 4);
        seen.extend(page.integration_types.into_iter().map(|t| t.name));
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(pages, builtin_count().div_ceil(4));
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "pages are ordered and never repeat");
    assert_eq!(seen.len(), builtin_count());

    // Exactly one full page: no token for an empty page after it.
    let exact = registry
        .list_integration_types(list(builtin_count() as i32, ""))
        .await
        .expect("page")
        .into_inner();
    assert_eq!(exact.integration_types.len(), builtin_count());
    assert!(exact.next_page_token.is_empty());

    let negative = registry.list_integration_types(list(-1, "")).await;
    let status = assert_error(negative, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violations(&status), ["page_size"]);
    let garbage = registry
        .list_integration_types(list(3, "not-a-token"))
        .await;
    let status = assert_error(garbage, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violations(&status), ["page_token"]);

    // A token is bound to the filters it was issued for.
    let first = registry
        .list_integration_types(list(1, ""))
        .await
        .expect("page")
        .into_inner();
    let other_filter = registry
        .list_integration_types(ListIntegrationTypesRequest {
            page_size: 1,
            page_token: first.next_page_token,
            popular_only: true,
            ..Default::default()
        })
        .await;
    assert_error(other_filter, Code::InvalidArgument, "INVALID_ARGUMENT");
}

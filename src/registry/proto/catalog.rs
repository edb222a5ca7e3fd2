//! IntegrationType ⇄ proto, with the validation of admin-written types.

pub use super::enums::category_to_proto;
use crate::registry::{
    model::{
        ActionSpec, ConfigField, FieldKind, IntegrationType, OAuthSpec, SignatureScheme,
        TypeDefinition, TypeQuery, TypeSpec,
    },
    proto::enums::{
        category_from_proto, kind_from_proto, kind_to_proto, role_from_proto, role_to_proto,
        scheme_from_proto, scheme_to_proto,
    },
};
use crate::{
    auth::Role,
    error::{ApiError, FieldViolation},
    field_mask::{Selection, copy_selected},
    names::TypeId,
    names::is_field_name,
    proto::{self, v1 as pb},
};

pub fn to_proto(t: &IntegrationType) -> pb::IntegrationType {
    let d = &t.definition;
    let spec = &d.spec;
    pb::IntegrationType {
        name: d.id.name(),
        display_name: d.display_name.clone(),
        category: category_to_proto(d.category).into(),
        description: d.description.clone(),
        capabilities: d.capabilities.clone(),
        config_fields: spec
            .config_fields
            .iter()
            .map(|f| pb::ConfigField {
                name: f.name.clone(),
                r#type: kind_to_proto(f.kind).into(),
                required: f.required,
                secret: f.secret,
                description: f.description.clone(),
            })
            .collect(),
        actions: spec
            .actions
            .iter()
            .map(|a| pb::ActionSpec {
                action: a.action.clone(),
                description: a.description.clone(),
                min_role: role_to_proto(a.min_role).into(),
            })
            .collect(),
        signature_scheme: scheme_to_proto(spec.signature_scheme).into(),
        signature_header: spec.signature_header.clone().unwrap_or_default(),
        webhook_tolerance: spec.webhook_tolerance().map(proto::time::duration),
        probe: spec.probe.clone(),
        api_base_uri: spec.api_base_uri.clone(),
        oauth: spec.oauth.as_ref().map(|o| pb::OAuthConfig {
            token_uri: o.token_uri.clone(),
            revoke_uri: o.revoke_uri.clone(),
        }),
        docs_uri: spec.docs_uri.clone(),
        popular: d.popular,
        active: d.active,
        builtin: t.builtin,
        etag: t.etag.clone(),
        create_time: Some(proto::time::timestamp(t.create_time)),
        update_time: Some(proto::time::timestamp(t.update_time)),
    }
}

pub fn query_from_proto(r: &pb::ListIntegrationTypesRequest) -> Result<TypeQuery, ApiError> {
    let category = match r.category {
        0 => None,
        other => Some(
            category_from_proto(other)
                .ok_or_else(|| ApiError::invalid_field("category", "unknown category"))?,
        ),
    };
    let nonempty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    if r.query.len() > 200 {
        return Err(ApiError::invalid_field(
            "query",
            "is longer than 200 characters",
        ));
    }
    Ok(TypeQuery {
        category,
        capability: nonempty(&r.capability),
        text: nonempty(&r.query),
        popular_only: r.popular_only,
    })
}

/// The mutable fields, as update masks name them.
pub const UPDATABLE: [&str; 15] = [
    "display_name",
    "category",
    "description",
    "capabilities",
    "config_fields",
    "actions",
    "signature_scheme",
    "signature_header",
    "webhook_tolerance",
    "probe",
    "api_base_uri",
    "oauth",
    "docs_uri",
    "popular",
    "active",
];

/// Copies the masked fields of `patch` onto `base`; without a mask, the
/// fields `patch` populates.
pub fn apply_mask(base: &mut pb::IntegrationType, patch: &pb::IntegrationType, fields: &Selection) {
    copy_selected!(base, patch, fields, pb::IntegrationType::default();
        display_name,
        category,
        description,
        capabilities,
        config_fields,
        actions,
        signature_scheme,
        signature_header,
        webhook_tolerance,
        probe,
        api_base_uri,
        oauth,
        docs_uri,
        popular,
        active
    );
}

fn is_kebab(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn check_uri(v: &mut Vec<FieldViolation>, field: &str, uri: &str) {
    if !uri.is_empty()
        && !url::Url::parse(uri).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
    {
        v.push(FieldViolation::new(
            field,
            "must be an absolute http or https URL",
        ));
    }
}

/// Validates an admin-written type; every problem is one violation.
pub fn definition_from_proto(p: &pb::IntegrationType) -> Result<TypeDefinition, ApiError> {
    let mut v = Vec::new();
    let id = TypeId::parse_name(&p.name)
        .map_err(|e| v.push(FieldViolation::new("integration_type.name", e.to_string())))
        .ok();
    if p.display_name.trim().is_empty() || p.display_name.len() > 100 {
        v.push(FieldViolation::new(
            "integration_type.display_name",
            "must be 1 to 100 characters",
        ));
    }
    let category = category_from_proto(p.category);
    if category.is_none() {
        v.push(FieldViolation::new(
            "integration_type.category",
            "must be a known category",
        ));
    }
    if p.description.len() > 2000 {
        v.push(FieldViolation::new(
            "integration_type.description",
            "is longer than 2000 characters",
        ));
    }
    let mut capabilities = Vec::new();
    for (i, c) in p.capabilities.iter().enumerate() {
        if !is_kebab(c, 40) {
            v.push(FieldViolation::new(
                format!("integration_type.capabilities[{i}]"),
                "must be lowercase letters, digits and `-`",
            ));
        } else if !capabilities.contains(c) {
            capabilities.push(c.clone());
        }
    }
    let mut config_fields: Vec<ConfigField> = Vec::new();
    for (i, f) in p.config_fields.iter().enumerate() {
        let path = format!("integration_type.config_fields[{i}]");
        if !is_field_name(&f.name) {
            v.push(FieldViolation::new(
                format!("{path}.name"),
                "must be lower_snake_case",
            ));
        } else if config_fields.iter().any(|existing| existing.name == f.name) {
            v.push(FieldViolation::new(
                format!("{path}.name"),
                format!("duplicates field {:?}", f.name),
            ));
        }
        let kind = kind_from_proto(f.r#type);
        if kind.is_none() {
            v.push(FieldViolation::new(
                format!("{path}.type"),
                "must be a known field type",
            ));
        }
        config_fields.push(ConfigField {
            name: f.name.clone(),
            kind: kind.unwrap_or(FieldKind::String),
            required: f.required,
            secret: f.secret,
            description: f.description.clone(),
        });
    }
    let mut actions: Vec<ActionSpec> = Vec::new();
    for (i, a) in p.actions.iter().enumerate() {
        let path = format!("integration_type.actions[{i}]");
        if !is_kebab(&a.action, 63) {
            v.push(FieldViolation::new(
                format!("{path}.action"),
                "must be lowercase letters, digits and `-`",
            ));
        } else if actions.iter().any(|existing| existing.action == a.action) {
            v.push(FieldViolation::new(
                format!("{path}.action"),
                format!("duplicates action {:?}", a.action),
            ));
        }
        let role = role_from_proto(a.min_role);
        if role.is_none() {
            v.push(FieldViolation::new(
                format!("{path}.min_role"),
                "must be a known role",
            ));
        }
        actions.push(ActionSpec {
            action: a.action.clone(),
            min_role: role.unwrap_or(Role::Owner),
            description: a.description.clone(),
        });
    }
    let scheme = scheme_from_proto(p.signature_scheme);
    if scheme.is_none() {
        v.push(FieldViolation::new(
            "integration_type.signature_scheme",
            "must be a known scheme",
        ));
    }
    let header = p.signature_header.trim();
    let header_valid =
        header.is_empty() || axum::http::HeaderName::from_bytes(header.as_bytes()).is_ok();
    if !header_valid {
        v.push(FieldViolation::new(
            "integration_type.signature_header",
            "is not a valid header name",
        ));
    } else if scheme == Some(SignatureScheme::SharedHeader) && header.is_empty() {
        v.push(FieldViolation::new(
            "integration_type.signature_header",
            "is required with SIGNATURE_SCHEME_SHARED_HEADER",
        ));
    }
    let tolerance = match &p.webhook_tolerance {
        None => None,
        Some(d) => match proto::time::duration_from_proto(d) {
            Some(d) if d.as_secs() <= 86_400 => Some(d.as_secs()).filter(|s| *s > 0),
            _ => {
                v.push(FieldViolation::new(
                    "integration_type.webhook_tolerance",
                    "must be between 0 and 24h",
                ));
                None
            }
        },
    };
    if crate::providers::find(&p.probe).is_none() {
        let ids: Vec<&str> = crate::providers::ids().collect();
        v.push(FieldViolation::new(
            "integration_type.probe",
            format!("must be one of {}", ids.join(", ")),
        ));
    }
    // Base URIs may hold `{setting}` placeholders (Sanity's per-project host).
    check_uri(
        &mut v,
        "integration_type.api_base_uri",
        &p.api_base_uri.replace(['{', '}'], ""),
    );
    check_uri(&mut v, "integration_type.docs_uri", &p.docs_uri);
    if let Some(o) = &p.oauth {
        if o.token_uri.is_empty() {
            v.push(FieldViolation::new(
                "integration_type.oauth.token_uri",
                "is required with oauth",
            ));
        }
        check_uri(&mut v, "integration_type.oauth.token_uri", &o.token_uri);
        // Revocation URIs may hold `{placeholders}`; check the rest.
        check_uri(
            &mut v,
            "integration_type.oauth.revoke_uri",
            &o.revoke_uri.replace(['{', '}'], ""),
        );
    }
    match (id, category, scheme, v.is_empty()) {
        (Some(id), Some(category), Some(signature_scheme), true) => Ok(TypeDefinition {
            id,
            display_name: p.display_name.trim().to_owned(),
            category,
            description: p.description.clone(),
            capabilities,
            popular: p.popular,
            active: p.active,
            spec: TypeSpec {
                config_fields,
                actions,
                signature_scheme,
                signature_header: (!header.is_empty()).then(|| header.to_ascii_lowercase()),
                webhook_tolerance_secs: tolerance,
                probe: p.probe.clone(),
                api_base_uri: p.api_base_uri.trim_end_matches('/').to_owned(),
                oauth: p.oauth.as_ref().map(|o| OAuthSpec {
                    token_uri: o.token_uri.clone(),
                    revoke_uri: o.revoke_uri.clone(),
                }),
                docs_uri: p.docs_uri.clone(),
            },
        }),
        _ => Err(ApiError::invalid_argument(v)),
    }
}

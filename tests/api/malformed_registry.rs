//! Malformed requests on IntegrationRegistry's type and template RPCs (see
//! `malformed_requests`).

use patchbay::proto::v1::{
    CreateMappingTemplateRequest, DeleteMappingTemplateRequest, FieldMapping,
    GetIntegrationTypeRequest, GetMappingTemplateRequest, IntegrationType,
    ListIntegrationTypesRequest, ListMappingTemplatesRequest, MappingTemplate,
    RegisterIntegrationTypeRequest, TransformRecordRequest, UpdateIntegrationTypeRequest,
    UpdateMappingTemplateRequest,
};
use prost_types::FieldMask;

use crate::{
    case,
    helpers::{TestApp, spawn_app},
    malformed_requests::{Case, assert_all_invalid, bad_names, bad_projects, root},
};

const HUGE: usize = 100_000;

pub fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

fn type_and_template_cases(app: &TestApp, token: &str) -> Vec<Case> {
    let r = || app.registry(Some(token));
    let mut cases = Vec::new();
    for name in [
        "",
        "github",
        "integrationTypes/",
        "integrationTypes/GitHub!",
        "integrationTypes/a/b",
    ] {
        cases.push(case!(
            "GetIntegrationType",
            name,
            r(),
            get_integration_type,
            GetIntegrationTypeRequest { name: name.into() }
        ));
        let ty = IntegrationType {
            name: name.into(),
            display_name: "X".into(),
            ..Default::default()
        };
        cases.push(case!(
            "UpdateIntegrationType",
            name,
            r(),
            update_integration_type,
            UpdateIntegrationTypeRequest {
                integration_type: Some(ty),
                update_mask: mask(&["display_name"])
            }
        ));
        let ty = IntegrationType {
            name: name.into(),
            display_name: "X".into(),
            ..Default::default()
        };
        cases.push(case!(
            "RegisterIntegrationType",
            name,
            r(),
            register_integration_type,
            RegisterIntegrationTypeRequest {
                integration_type: Some(ty),
                request_id: String::new()
            }
        ));
    }
    cases.push(case!(
        "ListIntegrationTypes",
        "negative page size",
        r(),
        list_integration_types,
        ListIntegrationTypesRequest {
            page_size: -5,
            ..Default::default()
        }
    ));
    cases.push(case!(
        "ListIntegrationTypes",
        "forged page token",
        r(),
        list_integration_types,
        ListIntegrationTypesRequest {
            page_token: "garbage".into(),
            ..Default::default()
        }
    ));
    cases.push(case!(
        "ListIntegrationTypes",
        "unknown category",
        r(),
        list_integration_types,
        ListIntegrationTypesRequest {
            category: 9999,
            ..Default::default()
        }
    ));
    for name in bad_names("mappingTemplates") {
        let n = name.clone();
        cases.push(case!(
            "GetMappingTemplate",
            n,
            r(),
            get_mapping_template,
            GetMappingTemplateRequest { name }
        ));
        let name = n.clone();
        cases.push(case!(
            "DeleteMappingTemplate",
            name,
            r(),
            delete_mapping_template,
            DeleteMappingTemplateRequest {
                name: name.clone(),
                etag: String::new()
            }
        ));
        let name = n.clone();
        let template = MappingTemplate {
            name: name.clone(),
            display_name: "x".into(),
            ..Default::default()
        };
        cases.push(case!(
            "UpdateMappingTemplate",
            name,
            r(),
            update_mapping_template,
            UpdateMappingTemplateRequest {
                mapping_template: Some(template),
                update_mask: mask(&["display_name"])
            }
        ));
        let name = n.clone();
        cases.push(case!(
            "TransformRecord",
            name,
            r(),
            transform_record,
            TransformRecordRequest {
                template: name.clone(),
                ..Default::default()
            }
        ));
    }
    for parent in bad_projects() {
        let p = parent.clone();
        cases.push(case!(
            "ListMappingTemplates",
            p,
            r(),
            list_mapping_templates,
            ListMappingTemplatesRequest {
                parent: parent.clone(),
                ..Default::default()
            }
        ));
        cases.push(case!(
            "CreateMappingTemplate",
            p.clone(),
            r(),
            create_mapping_template,
            CreateMappingTemplateRequest {
                parent,
                mapping_template_id: "t".into(),
                mapping_template: Some(template()),
                request_id: String::new()
            }
        ));
    }
    let mut huge = template();
    huge.display_name = "d".repeat(HUGE);
    cases.push(case!(
        "CreateMappingTemplate",
        "huge display name",
        r(),
        create_mapping_template,
        CreateMappingTemplateRequest {
            parent: "projects/acme".into(),
            mapping_template_id: "t".into(),
            mapping_template: Some(huge),
            request_id: String::new()
        }
    ));
    let fields = vec![FieldMapping {
        source_path: "a".repeat(HUGE),
        target_field: "email".into(),
        ..Default::default()
    }];
    cases.push(case!(
        "TransformRecord",
        "huge source path",
        r(),
        transform_record,
        TransformRecordRequest {
            fields,
            ..Default::default()
        }
    ));
    cases.push(case!(
        "ListMappingTemplates",
        "negative page size",
        r(),
        list_mapping_templates,
        ListMappingTemplatesRequest {
            parent: "projects/acme".into(),
            page_size: -1,
            ..Default::default()
        }
    ));
    cases
}

fn template() -> MappingTemplate {
    MappingTemplate {
        display_name: "Contacts".into(),
        fields: vec![FieldMapping {
            source_path: "email".into(),
            target_field: "email".into(),
            field_type: 1,
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn malformed_requests_on_types_and_templates_are_invalid_argument() {
    let app = spawn_app().await;
    let token = root(&app);
    assert_all_invalid(&app, type_and_template_cases(&app, &token)).await;
}

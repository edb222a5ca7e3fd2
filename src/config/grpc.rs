//! Flags of the gRPC server: request rate limits and browser origins.

use clap::Args;

use crate::{
    grpc::{BrowserOrigin, GrpcLimits, GrpcPolicy},
    rate_limit::RateLimit,
};

#[derive(Debug, Clone, Args)]
pub struct GrpcArgs {
    /// gRPC calls per second per token subject (calls without a valid token
    /// count per peer address); 0 turns the limit off.
    #[arg(long, env = "PATCHBAY_GRPC_RATE_PER_CALLER", default_value_t = 100)]
    pub grpc_rate_per_caller: u32,

    /// gRPC calls per caller accepted at once before the rate applies.
    #[arg(long, env = "PATCHBAY_GRPC_BURST_PER_CALLER", default_value_t = 200)]
    pub grpc_burst_per_caller: u32,

    /// gRPC calls per second per peer address, whoever calls; 0 turns the
    /// limit off. Health checks and reflection are never limited.
    #[arg(long, env = "PATCHBAY_GRPC_RATE_PER_PEER", default_value_t = 1000)]
    pub grpc_rate_per_peer: u32,

    /// gRPC calls per peer accepted at once before the rate applies.
    #[arg(long, env = "PATCHBAY_GRPC_BURST_PER_PEER", default_value_t = 5000)]
    pub grpc_burst_per_peer: u32,

    /// A browser origin (`https://app.example.com`) whose pages may call
    /// over gRPC-Web; repeat for several, or `*` for any. None by default.
    #[arg(
        long = "cors-origin",
        env = "PATCHBAY_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<BrowserOrigin>,
}

impl GrpcArgs {
    pub fn policy(&self) -> GrpcPolicy {
        GrpcPolicy {
            limits: self.limits(),
            browser_origins: self.cors_origins.clone(),
        }
    }

    fn limits(&self) -> GrpcLimits {
        GrpcLimits {
            per_caller: RateLimit::from_flags(
                self.grpc_rate_per_caller,
                self.grpc_burst_per_caller,
            ),
            per_peer: RateLimit::from_flags(self.grpc_rate_per_peer, self.grpc_burst_per_peer),
        }
    }
}

//! Generates the gRPC demo's service code with tonic-build's `manual` builder: the messages are
//! Rust structs (prost derives), so no `.proto` file and no `protoc` is needed on any machine.

use tonic_build::manual::{Builder, Method, Service};

fn main() {
    let method = |name: &str, route: &str, input: &str, output: &str| {
        Method::builder()
            .name(name)
            .route_name(route)
            .input_type(format!("crate::grpc::pb::{input}"))
            .output_type(format!("crate::grpc::pb::{output}"))
            .codec_path("tonic_prost::ProstCodec")
            .build()
    };
    let session = Service::builder()
        .name("Session")
        .package("jwtrevoke.demo.v1")
        .comment("The caller's session: who it is, and logging out of it.")
        .method(method("who_am_i", "WhoAmI", "WhoAmIRequest", "WhoAmIReply"))
        .method(method(
            "revoke_me",
            "RevokeMe",
            "RevokeMeRequest",
            "RevokeMeReply",
        ))
        .build();
    Builder::new().compile(&[session]);
}

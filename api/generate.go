// Package api holds the Sluice client API: the protobuf definition in
// proto/sluice/v1 and the Go code generated from it in sluicev1.
//
// The generated code is committed. After changing the .proto, regenerate
// it from the repository root with
//
//	go generate ./api
//
// which runs buf (fetched by go run at a pinned version) with the
// protoc-gen-go and protoc-gen-go-grpc plugins that go.mod pins as tools.
// No protoc install is needed.
package api

//go:generate go run github.com/bufbuild/buf/cmd/buf@v1.75.0 generate

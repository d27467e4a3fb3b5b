export {
  createGrpcMtlsServer,
  createGrpcMtlsWebServer,
  createGrpcTlsServer,
  grpcMtlsClientCredentials,
  grpcMtlsWebClientCredentials,
  grpcPeerSpiffeId,
  grpcTlsClientCredentials,
  serveGrpc,
  type CallWithAuthContext,
} from "./credentials.js";

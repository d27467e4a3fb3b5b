export {
  bearerIdentityOf,
  jwtSvidBearer,
  withJwtSvidBearer,
  type BearerIdentity,
  type JwtSvidBearerMiddleware,
  type JwtSvidBearerOptions,
} from "./bearer-middleware.js";

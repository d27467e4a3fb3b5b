import { parseInsecureJwtSvid, validateJwtSvid, type JwtSvid } from "../../spiffe/jwt-svid.js";
import { parseJwtBundleFile } from "../../spiffe/jwt-bundle-file.js";
import { failedVerdict, secondsBetween, type InspectReport } from "./report.js";

export interface InspectJwtInput {
  readonly token: string;
  readonly bundleJson: string;
  readonly audience: readonly string[];
  readonly now: Date;
}

function describe(svid: JwtSvid | undefined, now: Date) {
  if (svid === undefined) return {};
  return {
    spiffeId: svid.id.toString(),
    audience: svid.audience,
    ...(svid.issuedAt === undefined ? {} : { notBefore: svid.issuedAt.toISOString() }),
    notAfter: svid.expiry.toISOString(),
    secondsLeft: secondsBetween(now, svid.expiry),
  };
}

/**
 * Judges a JWT-SVID file against a JWT bundle file, as the sidecar does before writing one.
 * The token itself is never printed: it is a bearer credential.
 */
export async function inspectJwtSvid(input: InspectJwtInput): Promise<InspectReport> {
  const token = input.token.trim();
  const passedChecks: string[] = [];
  let svid: JwtSvid | undefined;
  const build = (verdict: InspectReport["verdict"]): InspectReport => ({
    kind: "jwt-svid",
    ...describe(svid, input.now),
    passedChecks,
    skippedChecks: [],
    checkedAt: input.now.toISOString(),
    verdict,
  });
  try {
    svid = parseInsecureJwtSvid(token);
    passedChecks.push("JWT-SVID claims");
    const bundleFile = parseJwtBundleFile(input.bundleJson, svid.id.trustDomain);
    svid = await validateJwtSvid(token, bundleFile.bundles, { audience: input.audience, now: input.now });
    passedChecks.push(`signature (${bundleFile.format} bundle file)`, "expiry", "audience");
  } catch (error: unknown) {
    return build(failedVerdict(error));
  }
  return build({ valid: true });
}

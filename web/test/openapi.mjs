// Validates an OpenAPI document with an independent validator
// (@apidevtools/swagger-parser: the OpenAPI 3.0 JSON schema, then the
// spec's own rules such as path parameters). Usage: node openapi.mjs FILE.
// Prints every error and exits 1 when the document is not valid.
import SwaggerParser from "@apidevtools/swagger-parser";

const file = process.argv[2];
try {
  const api = await SwaggerParser.validate(file);
  console.log(`valid: OpenAPI ${api.openapi}, ${Object.keys(api.paths).length} paths`);
} catch (err) {
  console.log(err.message);
  if (Array.isArray(err.details)) {
    for (const d of err.details) console.log(JSON.stringify(d));
  }
  process.exit(1);
}

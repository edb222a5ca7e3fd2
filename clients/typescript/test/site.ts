// The browser test's web site: one page that loads the web client, and the
// files it imports (this package's dist/ and its dependencies' ES modules,
// found through an import map built from their package.json exports).

import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const DEPENDENCIES = ["@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-web"];
const TYPES: Record<string, string> = { ".js": "text/javascript", ".html": "text/html" };

type Exports = Record<string, string | { import?: string }>;

/** Bare specifier → URL for every ES module entry point the page may import. */
function importMap(): Record<string, string> {
  const imports: Record<string, string> = {};
  for (const dependency of DEPENDENCIES) {
    const manifest = JSON.parse(
      readFileSync(join(PACKAGE, "node_modules", dependency, "package.json"), "utf8"),
    ) as { exports: Exports };
    for (const [subpath, target] of Object.entries(manifest.exports)) {
      const file = typeof target === "string" ? target : target.import;
      if (file !== undefined) {
        imports[join(dependency, subpath)] = `/node_modules/${join(dependency, file)}`;
      }
    }
  }
  return imports;
}

function page(): string {
  return `<!doctype html>
<html>
<head><meta charset="utf-8"><title>Patchbay over gRPC-Web</title>
<script type="importmap">${JSON.stringify({ imports: importMap() })}</script>
<script type="module" src="/dist/test/browser/page.js"></script>
</head>
<body></body>
</html>`;
}

export class Site {
  private constructor(
    private readonly http: HttpServer,
    readonly origin: string,
  ) {}

  static async start(): Promise<Site> {
    const html = page();
    const http = createServer((request, response) => {
      const path = normalize(decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname));
      if (path === "/") {
        response.writeHead(200, { "content-type": TYPES[".html"] }).end(html);
        return;
      }
      // Only the two trees the page needs, never a path out of the package.
      if (!path.startsWith("/dist/") && !path.startsWith("/node_modules/")) {
        response.writeHead(404).end();
        return;
      }
      readFile(join(PACKAGE, path)).then(
        (body) =>
          response.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream" }).end(body),
        () => response.writeHead(404).end(),
      );
    });
    await new Promise<void>((listening) => http.listen(0, "127.0.0.1", listening));
    const { port } = http.address() as AddressInfo;
    return new Site(http, `http://127.0.0.1:${port}`);
  }

  stop(): Promise<void> {
    return new Promise((closed) => {
      this.http.closeAllConnections();
      this.http.close(() => closed());
    });
  }
}

// warden-mcp: Warden's MCP server for one agent.
//
//   WARDEN_SERVER=127.0.0.1:7400 WARDEN_TOKEN=<an agent's token> warden-mcp
//   warden-mcp --http 127.0.0.1:7403     # streamable HTTP instead of stdio
//
// Environment: WARDEN_SERVER (host:port, default 127.0.0.1:7400),
// WARDEN_TOKEN (required: an agent token; the tools act only as that
// agent), WARDEN_CA_FILE (PEM: TLS to wardend), WARDEN_ORG, and
// WARDEN_CONSOLE_URL (the console, for pending approvals).
import * as fs from 'fs';
import * as http from 'http';

import {StdioServerTransport} from '@modelcontextprotocol/sdk/server/stdio.js';
import {StreamableHTTPServerTransport} from '@modelcontextprotocol/sdk/server/streamableHttp.js';

import {WardenClient} from '@warden/client';
import {createServer} from './server';

function fail(message: string): never {
  process.stderr.write(`warden-mcp: ${message}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const token = process.env.WARDEN_TOKEN;
  if (!token) fail('WARDEN_TOKEN: required (an agent\'s API token)');
  const args = process.argv.slice(2);
  const httpAt = args[0] === '--http' ? args[1] : undefined;
  if (args.length > 0 && !(args[0] === '--http' && args.length === 2)) {
    fail('usage: warden-mcp [--http HOST:PORT]');
  }
  const ca = process.env.WARDEN_CA_FILE;
  const warden = new WardenClient(process.env.WARDEN_SERVER || '127.0.0.1:7400', {
    token,
    orgId: process.env.WARDEN_ORG,
    rootCerts: ca ? fs.readFileSync(ca) : undefined,
  });
  const me = await warden.whoami().catch((e) => fail(`cannot reach Warden: ${e.message}`));
  if (!me.principal.startsWith('agent/')) {
    fail(`WARDEN_TOKEN: belongs to ${me.principal}, not an agent`);
  }
  const options = {agentId: me.principal.slice('agent/'.length),
                   consoleUrl: process.env.WARDEN_CONSOLE_URL};

  if (!httpAt) {
    await createServer(warden, options).connect(new StdioServerTransport());
    return;
  }
  const [host, port] = [httpAt.slice(0, httpAt.lastIndexOf(':')), Number(httpAt.slice(httpAt.lastIndexOf(':') + 1))];
  if (!host || !Number.isInteger(port) || port < 0 || port > 65535) fail(`--http: "${httpAt}" is not HOST:PORT`);
  // Stateless: a server and transport per request, as the SDK suggests.
  http.createServer(async (req, res) => {
    if (req.url !== '/mcp') {
      res.writeHead(404).end();
      return;
    }
    const server = createServer(warden, options);
    const transport = new StreamableHTTPServerTransport({sessionIdGenerator: undefined});
    res.on('close', () => {
      transport.close();
      server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  }).listen(port, host, function (this: http.Server) {
    const address = this.address();
    process.stderr.write(`warden-mcp: streamable HTTP on http://${host}:${
        typeof address === 'object' && address ? address.port : port}/mcp\n`);
  });
}

main().catch((e) => fail(e instanceof Error ? e.message : String(e)));

// Copies Warden's protos into proto/ (shipped with the package and loaded
// at run time) and generates their TypeScript types into src/gen/ with
// @grpc/proto-loader's generator, so the client's types follow the protos.
'use strict';
const {execFileSync} = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const source = path.resolve(root, '../../proto/warden');
fs.rmSync(path.join(root, 'proto'), {recursive: true, force: true});
fs.cpSync(source, path.join(root, 'proto/warden'), {recursive: true});
const protos = fs.readdirSync(path.join(root, 'proto/warden/v1'))
    .filter((f) => f.endsWith('.proto'))
    .map((f) => path.join('warden/v1', f));
fs.rmSync(path.join(root, 'src/gen'), {recursive: true, force: true});
execFileSync(process.execPath, [
  require.resolve('@grpc/proto-loader/build/bin/proto-loader-gen-types.js'),
  '--grpcLib=@grpc/grpc-js', '--longs=String', '--enums=String', '--defaults',
  '--oneofs', '--keepCase', '--outDir=src/gen', '--includeDirs=proto', '--', ...protos,
], {cwd: root, stdio: 'inherit'});

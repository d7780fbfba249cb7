// Reads a lattice with wasmCloud's own dashboard client library, exactly as washboard does
// (hosts from wadm_state, their inventories by host.get, links by link.get, config from
// CONFIGDATA_<lattice>), and prints what it found as JSON.
//   node --experimental-websocket lattice-client.mjs ws://127.0.0.1:PORT LATTICE
import { LatticeClient, getCombinedInventoryFromHosts } from '@wasmcloud/lattice-client-core';

const [latticeUrl, latticeId] = process.argv.slice(2);
// A lattice that does not answer must fail the check, not hang it.
setTimeout(() => { console.error(`no answer from ${latticeUrl} in 20 s`); process.exit(2); }, 20000).unref();
const client = new LatticeClient({ config: { latticeUrl, latticeId, retryCount: 3 } });
await client.instance.connect();
const hosts = await client.hosts.list({ expand: true });
if (!hosts.success) throw new Error(`hosts: ${hosts.message}`);
const inventory = getCombinedInventoryFromHosts(hosts.response);
const links = await client.links.list();
const configs = await client.configs.list({ expand: true });
console.log(JSON.stringify({
  hosts: hosts.response.map((h) => ({ id: h.host_id, friendly_name: h.friendly_name, labels: h.labels })),
  components: Object.values(inventory.components).map((c) => ({ id: c.id, image_ref: c.image_ref, max_instances: c.max_instances })),
  providers: Object.values(inventory.providers).map((p) => ({ id: p.id, image_ref: p.image_ref })),
  links: links.response,
  configs: configs.response,
}));
// The library's connection keeps timers of its own: leave once everything is printed.
process.exit(0);

import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * This machine's address on the route to `address` (HOST:PORT or [IPv6]:PORT): the local address a connection to
 * the queen leaves from, which is how the queen can reach this machine back. Found by connecting a UDP socket,
 * which only asks the kernel's routing table and sends nothing.
 */
export async function localAddressToward(address: string): Promise<string> {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(colon + 1));
  const ip = isIP(host) !== 0 ? host : (await lookup(host)).address;
  const socket = createSocket(isIP(ip) === 6 ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(port === 0 ? 9 : port, ip, () => resolve());
    });
    return socket.address().address;
  } finally {
    socket.close();
  }
}

/** The addresses of this machine's interfaces (an engine bound to one of them runs here). */
export function localAddresses(): Set<string> {
  const addresses = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const entry of list ?? []) addresses.add(entry.address);
  return addresses;
}

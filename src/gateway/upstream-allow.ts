import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOneOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/**
 * Which addresses the gateway may send requests to: worker URLs are what hives report, so without a limit a hive
 * could make the queen POST users' requests to any address it can reach. A comma-separated list of addresses and
 * CIDR blocks (`10.0.0.0/8,192.168.1.7,fd00::/8`); '' allows every address.
 */
export class UpstreamAllowList {
  private constructor(
    private readonly blocks: BlockList | undefined,
    /** The list as given, for messages. */
    readonly text: string,
  ) {}

  /** Parses `text`; throws RangeError naming the first entry that is neither an address nor a CIDR block. */
  static parse(text: string): UpstreamAllowList {
    const trimmed = text.trim();
    if (trimmed === '') return new UpstreamAllowList(undefined, '');
    const blocks = new BlockList();
    for (const entry of trimmed.split(',').map((e) => e.trim())) {
      const [address = '', prefix, extra] = entry.split('/');
      const family = isIP(address);
      const bits = prefix === undefined ? undefined : /^\d{1,3}$/.test(prefix) ? Number(prefix) : Number.NaN;
      const max = family === 6 ? 128 : 32;
      if (family === 0 || extra !== undefined || (bits !== undefined && !(bits >= 0 && bits <= max))) {
        throw new RangeError(`${JSON.stringify(entry)} is not an IP address or a CIDR block such as 10.0.0.0/8`);
      }
      const type = family === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) blocks.addAddress(address, type);
      else blocks.addSubnet(address, bits, type);
    }
    return new UpstreamAllowList(blocks, trimmed);
  }

  /** Whether every address is allowed (no list given). */
  get open(): boolean {
    return this.blocks === undefined;
  }

  /** Whether the gateway may connect to `address` (an IP address). */
  allows(address: string): boolean {
    if (this.blocks === undefined) return true;
    const family = isIP(address);
    return family !== 0 && this.blocks.check(address, family === 6 ? 'ipv6' : 'ipv4');
  }

  /**
   * A `lookup` for the connections to workers (net.connect's option) that resolves host names as usual and keeps
   * only allowed addresses; none left fails the connection with code ERR_UPSTREAM_NOT_ALLOWED. (An IP address in
   * the URL is not looked up: check it with `allows` first.)
   */
  lookup(): typeof dnsLookup {
    const guarded = (
      hostname: string,
      options: LookupOneOptions | LookupAllOptions | number | undefined,
      callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
    ): void => {
      const asked = typeof options === 'object' && options !== null ? options : { family: options ?? 0 };
      dnsLookup(hostname, { ...asked, all: true }, (error, addresses) => {
        if (error !== null) {
          callback(error, '', 0);
          return;
        }
        const allowed = addresses.filter((a) => this.allows(a.address));
        if (allowed.length === 0) {
          const refused: NodeJS.ErrnoException = new Error(
            `${hostname} resolves to ${addresses.map((a) => a.address).join(', ')}, outside --gateway-allow-upstream ${this.text}`,
          );
          refused.code = 'ERR_UPSTREAM_NOT_ALLOWED';
          callback(refused, '', 0);
          return;
        }
        const first = allowed[0] as LookupAddress;
        if ('all' in asked && asked.all === true) callback(null, allowed);
        else callback(null, first.address, first.family);
      });
    };
    // The overloads of dns.lookup are one function at run time; this is that function.
    return guarded as unknown as typeof dnsLookup;
  }
}

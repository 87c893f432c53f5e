import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** Cuts every open connection, as a network failure would; new connections still work. */
  dropAll(): void;
  /**
   * Stops carrying bytes on every open connection without closing it: a link gone silently dead (no error,
   * no end on either side). New connections still work.
   */
  freeze(): void;
  /** Cuts every connection and refuses new ones until `resume()` (the server looks down). */
  pause(): void;
  resume(): void;
  connections(): number;
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 in front of a real server, to cut connections in fault tests. */
export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const pairs = new Set<[net.Socket, net.Socket]>();
  let paused = false;
  const server = net.createServer((client) => {
    if (paused) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const cleanup = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', cleanup).on('close', cleanup);
    upstream.on('error', cleanup).on('close', cleanup);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const dropAll = () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
    pairs.clear();
  };
  return {
    port,
    dropAll,
    freeze: () => {
      for (const [client, upstream] of pairs.values()) {
        client.unpipe(upstream).pause();
        upstream.unpipe(client).pause();
      }
      pairs.clear();
    },
    pause: () => {
      paused = true;
      dropAll();
    },
    resume: () => {
      paused = false;
    },
    connections: () => sockets.size / 2,
    close: async () => {
      dropAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The same URL pointed at the proxy. */
export function viaProxy(url: string, proxy: TcpProxy): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  return u.toString();
}

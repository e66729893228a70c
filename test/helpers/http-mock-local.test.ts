import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertHttpMocksDone, mockHttp, setupHttpMocks } from './http-mock.ts';

setupHttpMocks({ allowLocalhost: true });

const server = createServer((_, response) => response.end('real'));
let url: string;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('test/helpers/http-mock with allowLocalhost', () => {
  it('lets real requests to 127.0.0.1 through while other hosts stay mocked and strict', async () => {
    mockHttp('http://slack.test').post('/hook').reply(200, 'mocked');
    expect((await axios.get(url)).data).toBe('real');
    expect((await axios.post('http://slack.test/hook')).data).toBe('mocked');
    expect(() => assertHttpMocksDone()).not.toThrow();
    await expect(axios.get('http://elsewhere.test/')).rejects.toThrow(/Disallowed net connect/);
    expect(() => assertHttpMocksDone()).toThrow(/elsewhere\.test/);
  });
});

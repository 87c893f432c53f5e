import { canReport, nextState } from './status-rules';

const at = (s: number) => new Date(1_763_800_000_000 + s * 1000);

describe('nextState', () => {
  it('moves forward and skips delivered when the chat is open', () => {
    expect(nextState({ status: 'queued', provider: 'whatsapp' }, [{ status: 'sent', at: at(1) }])?.status).toBe('sent');
    expect(nextState({ status: 'sent', provider: 'whatsapp' }, [{ status: 'read', at: at(2) }])?.status).toBe('read');
  });

  it('never moves backwards', () => {
    expect(nextState({ status: 'read', provider: 'whatsapp' }, [{ status: 'delivered', at: at(9) }])).toBeUndefined();
    expect(nextState({ status: 'delivered', provider: 'whatsapp' }, [{ status: 'sent', at: at(9) }])).toBeUndefined();
  });

  it('takes the furthest state of several at once', () => {
    const r = nextState({ status: 'queued', provider: 'whatsapp' }, [
      { status: 'read', at: at(3) },
      { status: 'sent', at: at(1) },
      { status: 'delivered', at: at(2) },
    ]);
    expect(r?.status).toBe('read');
  });

  it('keeps failed sticky and lets it win over anything else', () => {
    expect(nextState({ status: 'failed', provider: 'whatsapp' }, [{ status: 'read', at: at(1) }])).toBeUndefined();
    const r = nextState({ status: 'sent', provider: 'whatsapp' }, [
      { status: 'delivered', at: at(5) },
      { status: 'failed', at: at(4) },
    ]);
    expect(r?.status).toBe('failed');
  });

  it('never shows a state the channel cannot report', () => {
    expect(nextState({ status: 'sent', provider: 'telegram' }, [{ status: 'delivered', at: at(1) }])).toBeUndefined();
    expect(nextState({ status: 'sent', provider: 'instagram' }, [{ status: 'delivered', at: at(1) }])).toBeUndefined();
    expect(nextState({ status: 'sent', provider: 'instagram' }, [{ status: 'read', at: at(1) }])?.status).toBe('read');
    expect(canReport('telegram', 'read')).toBe(false);
    expect(canReport(null, 'delivered')).toBe(true);
  });
});

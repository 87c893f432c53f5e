import { isValidCnpj, isValidCpf, parseDate, validateAnswer } from './validators';

describe('answer validators', () => {
  it('checks CPF check digits', () => {
    expect(isValidCpf('529.982.247-25')).toBe(true);
    expect(isValidCpf('52998224725')).toBe(true);
    expect(isValidCpf('529.982.247-24')).toBe(false);
    expect(isValidCpf('111.111.111-11')).toBe(false);
    expect(isValidCpf('1234')).toBe(false);
  });

  it('checks numeric CNPJ check digits', () => {
    expect(isValidCnpj('11.222.333/0001-81')).toBe(true);
    expect(isValidCnpj('11222333000181')).toBe(true);
    expect(isValidCnpj('11.222.333/0001-82')).toBe(false);
    expect(isValidCnpj('00000000000000')).toBe(false);
  });

  it('checks alphanumeric CNPJs (format from July 2026)', () => {
    // Receita Federal's published example: 12.ABC.345/01DE-35
    expect(isValidCnpj('12.ABC.345/01DE-35')).toBe(true);
    expect(isValidCnpj('12abc34501de35')).toBe(true);
    expect(isValidCnpj('12.ABC.345/01DE-36')).toBe(false);
    expect(isValidCnpj('12.ABC.345/01DE-3A')).toBe(false);
  });

  it('parses dates', () => {
    expect(parseDate('31/12/2025')).toBe('2025-12-31');
    expect(parseDate('2025-02-28')).toBe('2025-02-28');
    expect(parseDate('30/02/2025')).toBeUndefined();
    expect(parseDate('ontem')).toBeUndefined();
  });

  it('validates by kind', () => {
    expect(validateAnswer('email', ' Ana@Example.com ')).toBe('ana@example.com');
    expect(validateAnswer('email', 'ana@')).toBeUndefined();
    // A domain with an empty label (a trailing dot, two dots) is no address mail can reach.
    for (const bad of ['ana@gmail.com.', 'ana@gmail..com', 'ana@.gmail.com']) expect([bad, validateAnswer('email', bad)]).toEqual([bad, undefined]);
    expect(validateAnswer('email', 'ana.maria@mail.provedor.com.br')).toBe('ana.maria@mail.provedor.com.br');
    expect(validateAnswer('cpf_cnpj', '12.ABC.345/01DE-35')).toBe('12ABC34501DE35');
    expect(validateAnswer('cpf', '529.982.247-25')).toBe('52998224725');
    expect(validateAnswer('phone', '(41) 98844-5566')).toBe('+5541988445566');
    expect(validateAnswer('phone', '(41) 8844-5566')).toBe('+5541988445566');
    expect(validateAnswer('phone', '41 3333-4444')).toBe('+554133334444');
    expect(validateAnswer('phone', '+1 202 555 0123')).toBe('+12025550123');
    // Ten or eleven digits that no line has: a CPF (area code 52 does not exist), a number starting with 1, all zeros.
    for (const bad of ['529.982.247-25', '(11) 1234-5678', '11111111111', '00000000000']) expect([bad, validateAnswer('phone', bad)]).toEqual([bad, undefined]);
    expect(validateAnswer('text', '  ')).toBeUndefined();
  });
});

import { namesContact, unknownContactTokens, withContact } from './contact-tokens';

describe('contact fields in bot texts', () => {
  const ana = { name: 'Ana', phone: '+5541988445566', attributes: { cpf: '52998224725', idade: 31 } };

  it('puts the contact\'s name, phone and attributes in, an absent one as nothing, and leaves other braces alone', () => {
    expect(withContact('Oi {contact.name}! CPF {contact.attributes.cpf}, {contact.attributes.idade} anos, tel {contact.phone}.', ana))
      .toBe('Oi Ana! CPF 52998224725, 31 anos, tel +5541988445566.');
    expect(withContact('Cidade: {contact.attributes.cidade}.', ana)).toBe('Cidade: .');
    expect(withContact('Oi {contact.name}', { name: null, phone: null, attributes: null })).toBe('Oi ');
    expect(withContact('{reply} {x} {contact.nome} {contact.attributes.}', ana)).toBe('{reply} {x} {contact.nome} {contact.attributes.}');
  });

  it('tells the texts that name the contact, and the tokens that name no field', () => {
    expect(namesContact('Oi {contact.name}')).toBe(true);
    expect(namesContact('Oi {reply}')).toBe(false);
    expect(unknownContactTokens('{contact.name} {contact.Name} {contact.attributes.a b} {contact.attributes.cpf}')).toEqual(['{contact.Name}', '{contact.attributes.a b}']);
  });
});

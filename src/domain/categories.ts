/**
 * The agreement's enumerations: crime types (Art. 2), information types (Art. 3, 6, 7) and assistance
 * types (Art. 4). Each list is open-ended in the text ("in particular"), so each has an `other` value.
 */
import { z } from 'zod';

/** Art. 2: the types of crime the parties cooperate in combating. */
export const CRIME_CATEGORIES = {
  'organized-crime': 'Art. 2(1) organized crime',
  'terrorism-extremism': 'Art. 2(2) terrorism, extremism and their financing',
  'life-and-health': 'Art. 2(3) crime against life and health',
  'human-trafficking': 'Art. 2(4) trafficking in human beings, procuring, trafficking in organs and tissues',
  'child-sexual-abuse': 'Art. 2(5) sexual abuse of children and child pornography',
  'illegal-migration': 'Art. 2(6) crime related to illegal migration',
  'drug-trafficking': 'Art. 2(7) illicit trafficking in narcotic drugs, psychotropic substances, precursors',
  cybercrime: 'Art. 2(8) crime in the area of information technologies',
  'weapons-trafficking':
    'Art. 2(9) trafficking in weapons, ammunition, explosives, strategic goods, radioactive and nuclear materials',
  forgery: 'Art. 2(10) forgery of money, stamps, securities, payment means and official (travel) documents',
  'economic-crime': 'Art. 2(11) money laundering, smuggling and other economic crime',
  corruption: 'Art. 2(12) corruption',
  'cultural-property': 'Art. 2(13) trafficking in objects of cultural and historical value',
  'vehicle-crime': 'Art. 2(14) crime related to motor vehicles',
  'intellectual-property': 'Art. 2(15) criminal offences against intellectual property',
  other: 'Art. 2 (all types of crime): a type not listed above',
} as const;

/** Art. 3 (and 6, 7): the kinds of information and documents exchanged. */
export const INFORMATION_TYPES = {
  'criminal-offences': 'Art. 3(1) criminal offences, suspects, links, groups and their behaviour',
  'planned-offences': 'Art. 3(2) planning or organizing of criminal offences, including terrorism',
  'suspicious-transactions': 'Art. 3(3) transactions suspected of laundering or terrorist financing',
  'illegal-migration': 'Art. 3(4) prevention and fight against illegal migration',
  objects: 'Art. 3(5) objects related to crime, and samples of them',
  'crime-knowledge': 'Art. 3(6) knowledge of new forms of crime, analytical documentation',
  'research-and-methods': 'Art. 3(7) criminalistic and criminological research, methods and means',
  'legal-provisions': 'Art. 3(8) legal provisions related to the agreement',
  'travel-documents': 'Art. 6 lost, stolen, stolen blank, revoked or forged travel documents',
  'missing-and-searched-persons': 'Art. 7 missing persons and other searched persons',
  other: 'Art. 3 (in particular): information of another kind',
} as const;

/** Art. 4: the forms of coordinated activity and assistance. */
export const ASSISTANCE_TYPES = {
  'search-suspects': 'Art. 4(1) searching for suspects and persons avoiding prosecution or sentence',
  'search-missing-persons': 'Art. 4(2) searching for missing persons, identification of persons or remains',
  'search-objects': 'Art. 4(3) searching for objects',
  'special-techniques': 'Art. 4(4) controlled deliveries, surveillance and undercover operations',
  'crime-prevention': 'Art. 4(5) joint crime-prevention programmes',
  other: 'Art. 4 (in particular): assistance of another kind',
} as const;

/** Art. 10(1): the purposes for which received personal data may be used without further consent. */
export const PURPOSES = {
  'combating-crime': 'Art. 10(1) combating crime',
  'related-proceedings': 'Art. 10(1) related proceedings',
  'public-order-and-security': 'Art. 10(1) protecting public order and security',
} as const;

/** Art. 10(2): personal data that may be provided only when necessary. */
export const SENSITIVE_CATEGORIES = {
  nationality: 'Art. 10(2) nationality',
  'ethnic-origin': 'Art. 10(2) racial or ethnic origin',
  'political-opinions': 'Art. 10(2) political opinions',
  religion: 'Art. 10(2) religion',
  'philosophical-beliefs': 'Art. 10(2) philosophical beliefs',
  'criminal-convictions': 'Art. 10(2) previous criminal convictions',
  health: 'Art. 10(2) health',
  'sex-life': 'Art. 10(2) sexual life',
} as const;

/** Art. 9(4): the grounds on which a request may be refused in full or in part. */
export const REFUSAL_GROUNDS = {
  sovereignty: 'Art. 9(4) a threat to sovereignty',
  security: 'Art. 9(4) a threat to security',
  'important-interests': 'Art. 9(4) a threat to other important interests of the State',
  'national-legislation': 'Art. 9(4) a violation of the legislation of the State',
  'international-obligations': 'Art. 9(4) a violation of the international obligations of the State',
} as const;

const keysOf = <T extends Record<string, string>>(o: T) =>
  Object.keys(o) as [keyof T & string, ...(keyof T & string)[]];

export const CrimeCategory = z.enum(keysOf(CRIME_CATEGORIES)).describe('Art. 2 crime category');
export const InformationType = z.enum(keysOf(INFORMATION_TYPES)).describe('Art. 3 information type');
export const AssistanceType = z.enum(keysOf(ASSISTANCE_TYPES)).describe('Art. 4 assistance type');
export const Purpose = z.enum(keysOf(PURPOSES)).describe('Art. 10(1) purpose of use');

export const SensitiveCategory = z
  .enum(keysOf(SENSITIVE_CATEGORIES))
  .describe('Art. 10(2) sensitive category');
export const RefusalGround = z.enum(keysOf(REFUSAL_GROUNDS)).describe('Art. 9(4) ground of refusal');

export type CrimeCategory = z.infer<typeof CrimeCategory>;
export type SensitiveCategory = z.infer<typeof SensitiveCategory>;
export type RefusalGround = z.infer<typeof RefusalGround>;
export type InformationType = z.infer<typeof InformationType>;
export type AssistanceType = z.infer<typeof AssistanceType>;
export type Purpose = z.infer<typeof Purpose>;

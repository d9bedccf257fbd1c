//! `aidbridge generate`: a synthetic province for benchmarks and demonstrations. One million
//! people (by default) across Heilongjiang's 13 prefecture-level divisions, their government aid,
//! needs, charities and projects, consents and referrals in every state. The same seed gives the
//! same data (ids included); identifiers are encrypted and hashed with the deployment's keys, as
//! registration would. Rows are written in bulk, bypassing the audit trail and the event feed:
//! this is a loader of fiction, never of real people, and refuses a database that has any.

use std::collections::HashSet;
use std::time::Instant;

use chrono::{Datelike, Duration, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use crate::clock::Clock;
use crate::db::{self, bulk, Pool};
use crate::domain::person::{Circumstance, Tier};
use crate::domain::resident_id;
use crate::domain::resident_id::Sex;
use crate::privacy::{DataKeys, Field};

/// A prefecture-level division: code, name, 2020 census population (ten thousands), counties
/// (code, name).
type Prefecture = (
    &'static str,
    &'static str,
    u32,
    &'static [(&'static str, &'static str)],
);

const PREFECTURES: &[Prefecture] = &[
    (
        "2301",
        "哈尔滨市",
        1001,
        &[
            ("230102", "道里区"),
            ("230103", "南岗区"),
            ("230104", "道外区"),
            ("230108", "平房区"),
            ("230109", "松北区"),
            ("230110", "香坊区"),
            ("230111", "呼兰区"),
            ("230112", "阿城区"),
            ("230113", "双城区"),
            ("230123", "依兰县"),
            ("230124", "方正县"),
            ("230125", "宾县"),
            ("230126", "巴彦县"),
            ("230127", "木兰县"),
            ("230128", "通河县"),
            ("230129", "延寿县"),
            ("230183", "尚志市"),
            ("230184", "五常市"),
        ],
    ),
    (
        "2302",
        "齐齐哈尔市",
        407,
        &[
            ("230202", "龙沙区"),
            ("230203", "建华区"),
            ("230204", "铁锋区"),
            ("230205", "昂昂溪区"),
            ("230206", "富拉尔基区"),
            ("230207", "碾子山区"),
            ("230208", "梅里斯达斡尔族区"),
            ("230221", "龙江县"),
            ("230223", "依安县"),
            ("230224", "泰来县"),
            ("230225", "甘南县"),
            ("230227", "富裕县"),
            ("230229", "克山县"),
            ("230230", "克东县"),
            ("230231", "拜泉县"),
            ("230281", "讷河市"),
        ],
    ),
    (
        "2303",
        "鸡西市",
        150,
        &[
            ("230302", "鸡冠区"),
            ("230303", "恒山区"),
            ("230304", "滴道区"),
            ("230305", "梨树区"),
            ("230306", "城子河区"),
            ("230307", "麻山区"),
            ("230321", "鸡东县"),
            ("230381", "虎林市"),
            ("230382", "密山市"),
        ],
    ),
    (
        "2304",
        "鹤岗市",
        89,
        &[
            ("230402", "向阳区"),
            ("230403", "工农区"),
            ("230404", "南山区"),
            ("230405", "兴安区"),
            ("230406", "东山区"),
            ("230407", "兴山区"),
            ("230421", "萝北县"),
            ("230422", "绥滨县"),
        ],
    ),
    (
        "2305",
        "双鸭山市",
        121,
        &[
            ("230502", "尖山区"),
            ("230503", "岭东区"),
            ("230505", "四方台区"),
            ("230506", "宝山区"),
            ("230521", "集贤县"),
            ("230522", "友谊县"),
            ("230523", "宝清县"),
            ("230524", "饶河县"),
        ],
    ),
    (
        "2306",
        "大庆市",
        278,
        &[
            ("230602", "萨尔图区"),
            ("230603", "龙凤区"),
            ("230604", "让胡路区"),
            ("230605", "红岗区"),
            ("230606", "大同区"),
            ("230621", "肇州县"),
            ("230622", "肇源县"),
            ("230623", "林甸县"),
            ("230624", "杜尔伯特蒙古族自治县"),
        ],
    ),
    (
        "2307",
        "伊春市",
        88,
        &[
            ("230717", "伊美区"),
            ("230718", "乌翠区"),
            ("230719", "友好区"),
            ("230722", "嘉荫县"),
            ("230723", "汤旺县"),
            ("230724", "丰林县"),
            ("230725", "大箐山县"),
            ("230726", "南岔县"),
            ("230751", "金林区"),
            ("230781", "铁力市"),
        ],
    ),
    (
        "2308",
        "佳木斯市",
        216,
        &[
            ("230803", "向阳区"),
            ("230804", "前进区"),
            ("230805", "东风区"),
            ("230811", "郊区"),
            ("230822", "桦南县"),
            ("230826", "桦川县"),
            ("230828", "汤原县"),
            ("230881", "同江市"),
            ("230882", "富锦市"),
            ("230883", "抚远市"),
        ],
    ),
    (
        "2309",
        "七台河市",
        69,
        &[
            ("230902", "新兴区"),
            ("230903", "桃山区"),
            ("230904", "茄子河区"),
            ("230921", "勃利县"),
        ],
    ),
    (
        "2310",
        "牡丹江市",
        229,
        &[
            ("231002", "东安区"),
            ("231003", "阳明区"),
            ("231004", "爱民区"),
            ("231005", "西安区"),
            ("231025", "林口县"),
            ("231081", "绥芬河市"),
            ("231083", "海林市"),
            ("231084", "宁安市"),
            ("231085", "穆棱市"),
            ("231086", "东宁市"),
        ],
    ),
    (
        "2311",
        "黑河市",
        129,
        &[
            ("231102", "爱辉区"),
            ("231123", "逊克县"),
            ("231124", "孙吴县"),
            ("231181", "北安市"),
            ("231182", "五大连池市"),
            ("231183", "嫩江市"),
        ],
    ),
    (
        "2312",
        "绥化市",
        376,
        &[
            ("231202", "北林区"),
            ("231221", "望奎县"),
            ("231222", "兰西县"),
            ("231223", "青冈县"),
            ("231224", "庆安县"),
            ("231225", "明水县"),
            ("231226", "绥棱县"),
            ("231281", "安达市"),
            ("231282", "肇东市"),
            ("231283", "海伦市"),
        ],
    ),
    (
        "2327",
        "大兴安岭地区",
        33,
        &[
            ("232701", "漠河市"),
            ("232721", "呼玛县"),
            ("232722", "塔河县"),
        ],
    ),
];

const SURNAMES: &[char] = &[
    '王', '李', '张', '刘', '陈', '杨', '赵', '黄', '周', '吴', '徐', '孙', '胡', '朱', '高', '林',
    '何', '郭', '马', '罗', '梁', '宋', '郑', '谢', '韩', '唐', '冯', '于', '董', '萧', '程', '曹',
    '袁', '邓', '许', '傅', '沈', '曾', '彭', '吕', '苏', '卢', '蒋', '蔡', '贾', '丁', '魏', '薛',
    '叶', '阎', '余', '潘', '杜', '戴', '夏', '钟', '汪', '田', '任', '姜', '范', '方', '石', '姚',
];
const GIVEN: &[char] = &[
    '伟', '芳', '娜', '秀', '敏', '静', '丽', '强', '磊', '军', '洋', '勇', '艳', '杰', '娟', '涛',
    '明', '超', '兰', '霞', '平', '刚', '桂', '英', '华', '玉', '红', '文', '建', '国', '春', '梅',
    '志', '海', '波', '辉', '鹏', '宇', '浩', '欣', '佳', '怡', '淑', '凤', '金', '福', '德', '贵',
];

/// How big a province to make.
pub struct Options {
    pub persons: u32,
    pub seed: u64,
}

/// What the generator tells its caller as it goes (the CLI shows it; tests ignore it).
pub enum Report {
    /// People written so far.
    Persons {
        done: u32,
        total: u32,
        per_second: f64,
    },
    /// A derived stage finished.
    Stage {
        name: &'static str,
        rows: usize,
        seconds: f64,
    },
}

/// What was made: rows per table, and ID numbers of people in the demo district (up to 10,000,
/// for the load run's look-ups).
pub struct Generated {
    pub counts: Vec<(&'static str, i64)>,
    pub demo_id_numbers: Vec<String>,
}

/// A county as the generator uses it: code, bureau, and its weight in the population.
struct County {
    code: &'static str,
    name: &'static str,
    prefecture: &'static str,
    prefecture_name: &'static str,
    prefecture_index: usize,
    index_in_prefecture: usize,
    counties_in_prefecture: usize,
    weight: f64,
    bureau: Uuid,
}

/// Ages are counted back from this day, so that the same seed gives the same ID numbers
/// whenever it runs (the other dates follow the day of the run).
const BIRTHS_BEFORE: NaiveDate = match NaiveDate::from_ymd_opt(2026, 1, 1) {
    Some(d) => d,
    None => panic!("a valid date"),
};

/// The demo district whose bureau and charity the load run signs in as.
pub const DEMO_COUNTY: &str = "230102";
const DEMO_CHARITY: &str = "哈尔滨市道里区关爱服务中心";

/// Fills an empty database; prints progress on standard error. Returns the rows per table.
pub async fn run(
    pool: &Pool,
    keys: &DataKeys,
    clock: &Clock,
    opts: &Options,
    report: &mut dyn FnMut(Report),
) -> Result<Generated, String> {
    let err = |e: db::Error| e.to_string();
    refuse_unless_empty(pool).await?;
    let mut conn = db::connect(pool).await.map_err(err)?;
    let now = clock.now();
    let today = now.date_naive();
    let seed = opts.seed.to_string();
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let demo_bureau = bulk::bureau_of(&mut conn, DEMO_COUNTY)
        .await
        .map_err(err)?
        .ok_or("the demo organisations are missing (the generator seeds them first)")?;
    let demo_charity = bulk::organization_named(&mut conn, DEMO_CHARITY)
        .await
        .map_err(err)?
        .ok_or("the demo charity is missing")?;
    let started = Instant::now();

    // Bureaus: the demo district keeps its own; every other county and prefecture gets one.
    let mut counties = Vec::new();
    let mut bureaus: Vec<(Uuid, String, String)> = Vec::new();
    for (p_index, (p_code, p_name, population, list)) in PREFECTURES.iter().enumerate() {
        if bulk::bureau_of(&mut conn, p_code)
            .await
            .map_err(err)?
            .is_none()
        {
            bureaus.push((
                random_uuid(&mut rng),
                format!("{p_name}民政局"),
                p_code.to_string(),
            ));
        }
        // Urban districts hold more people than rural counties.
        let units: f64 = list.iter().map(|(_, n)| district_weight(n)).sum();
        for (c_index, (code, name)) in list.iter().enumerate() {
            let bureau = if *code == DEMO_COUNTY {
                demo_bureau
            } else {
                let id = random_uuid(&mut rng);
                bureaus.push((id, format!("{p_name}{name}民政局"), code.to_string()));
                id
            };
            counties.push(County {
                code,
                name,
                prefecture: p_code,
                prefecture_name: p_name,
                prefecture_index: p_index,
                index_in_prefecture: c_index,
                counties_in_prefecture: list.len(),
                weight: f64::from(*population) * district_weight(name) / units,
                bureau,
            });
        }
    }
    bulk::insert_bureaus(&mut conn, &bureaus, now)
        .await
        .map_err(err)?;
    bulk::create_county_table(
        &mut conn,
        &counties
            .iter()
            .map(|c| bulk::CountyRow {
                code: c.code.to_owned(),
                name: c.name.to_owned(),
                prefecture: c.prefecture.to_owned(),
                prefecture_name: c.prefecture_name.to_owned(),
                prefecture_index: c.prefecture_index as i32,
                index_in_prefecture: c.index_in_prefecture as i32,
                counties_in_prefecture: c.counties_in_prefecture as i32,
                bureau: c.bureau,
            })
            .collect::<Vec<_>>(),
    )
    .await
    .map_err(err)?;

    // People, in batches; the 17 leading digits of every ID number are unique.
    let total_weight: f64 = counties.iter().map(|c| c.weight).sum();
    let cumulative: Vec<f64> = counties
        .iter()
        .scan(0.0, |acc, c| {
            *acc += c.weight / total_weight;
            Some(*acc)
        })
        .collect();
    let mut seen: HashSet<u64> = HashSet::with_capacity(opts.persons as usize);
    let mut demo_numbers = Vec::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut written = 0u32;
    for serial in 0..opts.persons {
        let u: f64 = rng.gen();
        let county = &counties[cumulative
            .partition_point(|&c| c < u)
            .min(counties.len() - 1)];
        let (person, number) = person(&mut rng, keys, county, today, &mut seen, serial)?;
        if county.code == DEMO_COUNTY && demo_numbers.len() < 10_000 {
            demo_numbers.push(number);
        }
        batch.push(person);
        if batch.len() == BATCH {
            db::persons::insert_many(&mut conn, &batch, now)
                .await
                .map_err(err)?;
            written += batch.len() as u32;
            batch.clear();
            if written.is_multiple_of(40_000) {
                report(persons_report(written, opts.persons, started));
            }
        }
    }
    if !batch.is_empty() {
        db::persons::insert_many(&mut conn, &batch, now)
            .await
            .map_err(err)?;
        report(persons_report(opts.persons, opts.persons, started));
    }

    // The rest is derived on the server from the people and the seed.
    let charities = i64::from((opts.persons / 200).max(13 * 4));
    let projects = charities * 4;
    let guardian = fake_guardian(&mut rng, keys)?;
    let params = bulk::Params {
        seed,
        now,
        charities,
        projects,
        demo_charity,
        guardian_encrypted: guardian.0,
        guardian_hash: guardian.1,
    };
    for stage in bulk::STAGES {
        let t = Instant::now();
        let rows = bulk::run_stage(&mut conn, stage, &params)
            .await
            .map_err(err)?;
        report(Report::Stage {
            name: stage.name,
            rows,
            seconds: t.elapsed().as_secs_f64(),
        });
    }
    let t = Instant::now();
    bulk::vacuum_analyze(&mut conn).await.map_err(err)?;
    report(Report::Stage {
        name: "vacuum analyze",
        rows: 0,
        seconds: t.elapsed().as_secs_f64(),
    });
    let mut counts = Vec::new();
    for table in [
        "organizations",
        "persons",
        "government_aid_records",
        "needs",
        "projects",
        "consents",
        "referrals",
    ] {
        counts.push((table, bulk::count(&mut conn, table).await.map_err(err)?));
    }
    Ok(Generated {
        counts,
        demo_id_numbers: demo_numbers,
    })
}

const BATCH: usize = 2_000;

/// The generator seeds the demo accounts (known passwords) before it writes: it refuses any
/// database that holds people or accounts other than the demo ones, so it can never add them to
/// a real deployment.
pub async fn refuse_unless_empty(pool: &Pool) -> Result<(), String> {
    let err = |e: db::Error| e.to_string();
    let mut conn = db::connect(pool).await.map_err(err)?;
    let demo: Vec<&str> = crate::seed::DEMO_LOGINS
        .iter()
        .map(|l| l.username)
        .collect();
    if bulk::count(&mut conn, "persons").await.map_err(err)? > 0
        || bulk::other_users(&mut conn, &demo).await.map_err(err)? > 0
    {
        return Err(
            "generate writes a synthetic province and demo accounts: it only runs on an empty \
             database (or one with nothing but the demo accounts)"
                .into(),
        );
    }
    Ok(())
}

fn district_weight(name: &str) -> f64 {
    if name.ends_with('区') {
        2.0
    } else {
        1.0
    }
}

fn persons_report(done: u32, total: u32, started: Instant) -> Report {
    Report::Persons {
        done,
        total,
        per_second: f64::from(done) / started.elapsed().as_secs_f64().max(0.001),
    }
}

fn random_uuid(rng: &mut StdRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.gen()).into_uuid()
}

fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

/// A consenting guardian's ID number for the minors' consents (one, fictional).
fn fake_guardian(rng: &mut StdRng, keys: &DataKeys) -> Result<(String, String), String> {
    let first17 = format!(
        "23010219{:02}0101{:03}",
        rng.gen_range(60..90),
        rng.gen_range(0..999)
    );
    let number = format!(
        "{first17}{}",
        resident_id::check_character(first17.as_bytes())
    );
    let encrypted = keys
        .encrypt(Field::GuardianIdNumber, &number)
        .map_err(|e| e.0)?;
    Ok((encrypted, keys.blind_index(&number)))
}

/// One person of `county`: plausible age, tier and circumstances, a valid unique ID number.
fn person(
    rng: &mut StdRng,
    keys: &DataKeys,
    county: &County,
    today: NaiveDate,
    seen: &mut HashSet<u64>,
    serial: u32,
) -> Result<(db::persons::NewPerson, String), String> {
    // People in the registry are older than the population: a fifth minors, two fifths over 60.
    let age: i64 = match rng.gen_range(0..100) {
        0..=19 => rng.gen_range(0..18),
        20..=59 => rng.gen_range(18..60),
        _ => rng.gen_range(60..96),
    };
    let birth = BIRTHS_BEFORE - Duration::days(age * 365 + rng.gen_range(0..365));
    let sex = if rng.gen_bool(0.5) {
        Sex::Male
    } else {
        Sex::Female
    };
    let number = loop {
        let order: u32 = rng.gen_range(0..500) * 2 + u32::from(sex == Sex::Male);
        let first17 = format!(
            "{}{:04}{:02}{:02}{order:03}",
            county.code,
            birth.year(),
            birth.month(),
            birth.day()
        );
        if seen.insert(first17.parse().unwrap_or_default()) {
            break format!(
                "{first17}{}",
                resident_id::check_character(first17.as_bytes())
            );
        }
    };
    let given: String = (0..rng.gen_range(1..=2))
        .map(|_| pick(rng, GIVEN))
        .collect();
    let name = format!("{}{given}", pick(rng, SURNAMES));
    let phone = rng.gen_bool(0.85).then(|| {
        format!(
            "1{}{:09}",
            pick(rng, &['3', '5', '7', '8', '9']),
            rng.gen_range(0..1_000_000_000u32)
        )
    });
    let tier = match rng.gen_range(0..100) {
        0..=41 => Some(Tier::SubsistenceAllowance),
        42..=49 => Some(Tier::ExtremePoverty),
        50..=71 => Some(Tier::MarginalLowIncome),
        72..=77 => Some(Tier::RigidExpenditureHardship),
        78..=81 => Some(Tier::OtherHardship),
        _ => None,
    };
    let relapse = if tier.is_none() {
        rng.gen_bool(0.6)
    } else {
        rng.gen_bool(0.05)
    };
    let certified = today - Duration::days(rng.gen_range(0..1000));
    let mut circumstances = Vec::new();
    if age < 18 {
        circumstances.push(Circumstance::Minor);
        if rng.gen_bool(0.4) {
            circumstances.push(Circumstance::SchoolingCosts);
        }
    }
    if age >= 60 && rng.gen_bool(0.3) {
        circumstances.push(Circumstance::ElderlyDependent);
    }
    for (c, p) in [
        (Circumstance::Disabled, 0.12),
        (Circumstance::SeriouslyIll, 0.05),
        (Circumstance::MajorIllness, 0.08),
        (Circumstance::IncomeLoss, 0.06),
        (Circumstance::Accident, 0.01),
        (Circumstance::Disaster, 0.01),
    ] {
        if rng.gen_bool(p) {
            circumstances.push(c);
        }
    }
    let encrypt = |field, plain: &str| keys.encrypt(field, plain).map_err(|e| e.0);
    let row = db::persons::NewPerson {
        id: random_uuid(rng),
        name,
        id_number_encrypted: encrypt(Field::IdNumber, &number)?,
        id_number_hash: keys.blind_index(&number),
        id_number_masked: resident_id::mask(&number),
        birth_date: birth,
        sex,
        phone_encrypted: phone
            .as_deref()
            .map(|p| encrypt(Field::Phone, p))
            .transpose()?,
        phone_masked: phone.as_deref().map(crate::domain::phone::mask),
        region_code: county.code.to_owned(),
        household_key: None,
        household_size: Some(rng.gen_range(1..=6)),
        household_income_per_capita_fen: Some(rng.gen_range(0..120_000)),
        tier,
        tier_certifying_region: tier.map(|_| county.code.to_owned()),
        tier_valid_from: tier.map(|_| certified),
        // Reviewed yearly (a rigid-expenditure status may not run longer).
        tier_valid_to: tier.map(|_| certified + Duration::days(365)),
        relapse_monitoring: relapse,
        relapse_certifying_region: relapse.then(|| county.code.to_owned()),
        relapse_valid_from: relapse.then_some(certified),
        relapse_valid_to: None,
        special_circumstances: circumstances,
        // The monitoring platform's own number, for seven in ten (unique: a serial).
        external_id: rng.gen_bool(0.7).then(|| format!("HLJ-{serial:09}")),
        registered_by_organization_id: county.bureau,
    };
    Ok((row, number))
}
